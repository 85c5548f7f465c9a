"""Verifier ``digits-classifier`` and the independent ``digits`` evaluator (used by evaluation, never by search)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from noisesearch.plugin import Condition, Verifier
from safetensors.torch import load_file

from .data import IMAGE_SIZE
from .networks import WEIGHTS, ClassifierNet


def _as_digits(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to the classifiers' input: one channel, 16x16, in [-1, 1]."""
    if images.shape[1] != 1:
        images = images.mean(dim=1, keepdim=True)
    if images.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return images * 2 - 1


class DigitsClassifier(Verifier):
    """Probability of the conditioning class under the embedded digits classifier (Ma et al. 2025, 3.2)."""

    name = "digits-classifier"
    condition_kinds = ("class",)
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        self.net = ClassifierNet()
        self.net.load_state_dict(load_file(Path(spec) if spec else WEIGHTS / "classifier.safetensors"))
        self.net.eval()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's convolutional features (what ``self-supervised:digits-classifier`` compares)."""
        return self.net.features(_as_digits(images).to(self.net.head.weight.dtype)).float()

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        labels = torch.tensor([c.class_label for c in conditions], device=images.device)
        probabilities = self.net(_as_digits(images).to(self.net.head.weight.dtype)).float().softmax(dim=-1)
        return probabilities.gather(1, labels[:, None]).squeeze(1)
