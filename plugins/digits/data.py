"""scikit-learn's bundled handwritten digits (Alpaydin & Kaynak, UCI), upsampled to 16x16, with a fixed split."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SIZE = 16
NUM_CLASSES = 10
SPLIT_SEED = 0
TRAIN_SIZE = 1300


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] of shape (N, 1, 16, 16) and labels of the ``train`` (1300) or ``heldout`` (497) split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(digits.target))
    chosen = order[:TRAIN_SIZE] if split == "train" else order[TRAIN_SIZE:]
    if split not in ("train", "heldout"):
        raise ValueError(f"unknown split {split!r}: use 'train' or 'heldout'")
    images = torch.tensor(digits.images[chosen], dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return images * 2 - 1, torch.tensor(digits.target[chosen], dtype=torch.long)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to one pixel and contrast jitter, for classifiers that judge generated digits."""
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    out = torch.empty_like(images)
    offsets = torch.randint(0, 3, (images.shape[0], 2), generator=generator)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + IMAGE_SIZE, dx : dx + IMAGE_SIZE]
    scale = 0.8 + 0.4 * torch.rand(images.shape[0], 1, 1, 1, generator=generator)
    return ((out + 1) * scale - 1).clamp(-1, 1)
