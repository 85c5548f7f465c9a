"""Training data of the motion world: captions from the grammar and their rendered clips."""

from __future__ import annotations

import random

import numpy as np
import torch

from ..captions import CATEGORIES, clip_for, sample_caption
from ..movers import render_clip


def examples(count: int, seed: int, distractors: int = 1) -> tuple[list[str], torch.Tensor]:
    """``count`` (caption, clip) pairs, categories in turn; clips (N, F, 3, 32, 32) in [-1, 1].

    Single-object clips carry up to ``distractors`` extra objects of other shapes, so captions describe their clips
    partially, as web captions do.
    """
    rng = random.Random(seed)
    captions, clips = [], []
    for i in range(count):
        caption = sample_caption(CATEGORIES[i % len(CATEGORIES)], rng)
        extra = rng.randint(0, distractors) if caption.count == 1 else 0
        captions.append(caption.text)
        clips.append(render_clip(clip_for(caption, rng, distractors=extra)))
    pixels = torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
    return captions, pixels
