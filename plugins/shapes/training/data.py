"""Training data of the shapes world: captions from the grammar (held-out pairs excluded) and their rendered scenes."""

from __future__ import annotations

import random

import numpy as np
import torch

from ..captions import CATEGORIES, scene_for, sample_caption
from ..scenes import render


def examples(count: int, seed: int, distractors: int = 1) -> tuple[list[str], torch.Tensor]:
    """``count`` (caption, image) pairs, categories in turn; images (N, 3, 32, 32) in [-1, 1].

    Each scene satisfies its caption and carries up to ``distractors`` extra objects of other shapes, so captions
    describe their images partially, as web captions do.
    """
    rng = random.Random(seed)
    captions, images = [], []
    for i in range(count):
        caption = sample_caption(CATEGORIES[i % len(CATEGORIES)], rng)
        scene = scene_for(caption, rng, distractors=rng.randint(0, distractors))
        captions.append(caption.text)
        images.append(render(scene))
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return captions, pixels
