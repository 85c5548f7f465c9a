"""Networks of the digits world: the diffusers UNet's config, the verifier's classifier and the evaluator."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .data import IMAGE_SIZE, NUM_CLASSES

WEIGHTS = Path(__file__).parent / "weights"  # the trained networks, their configs and the model card


def unet_config() -> dict:
    """A small class-conditional diffusers UNet2DModel; class ``NUM_CLASSES`` is the null class of CFG."""
    return dict(
        sample_size=IMAGE_SIZE,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        num_class_embeds=NUM_CLASSES + 1,
        norm_num_groups=16,
        attention_head_dim=16,
    )


class ClassifierNet(nn.Module):
    """The verifier's classifier: two conv blocks and a linear head (about 30k parameters)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(32 * (IMAGE_SIZE // 4) ** 2, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class EvaluatorNet(nn.Module):
    """The independent evaluator: a different architecture (batch-normed, 5x5 kernels, global pooling, dropout)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.BatchNorm2d(32), nn.GELU(),
            nn.Conv2d(32, 64, 5, padding=2, stride=2), nn.BatchNorm2d(64), nn.GELU(),
            nn.Conv2d(64, 96, 3, padding=1, stride=2), nn.BatchNorm2d(96), nn.GELU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(96, NUM_CLASSES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))
