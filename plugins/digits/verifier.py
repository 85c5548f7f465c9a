"""Verifier ``digits-classifier`` and the independent ``digits`` evaluator (used by evaluation, never by search)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from noisesearch.conditions import Condition
from noisesearch.evaluation import Evaluation
from noisesearch.verifier import Verifier

from .data import IMAGE_SIZE
from .networks import ClassifierNet, EvaluatorNet
from .pipeline import WEIGHTS


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

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        labels = torch.tensor([c.class_label for c in conditions], device=images.device)
        probabilities = self.net(_as_digits(images).to(self.net.head.weight.dtype)).float().softmax(dim=-1)
        return probabilities.gather(1, labels[:, None]).squeeze(1)


class DigitsEvaluator(torch.nn.Module):
    """The independent judge of the digits world: another architecture, seed and training run than the verifier."""

    def __init__(self, path: Optional[Path] = None):
        super().__init__()
        self.net = EvaluatorNet()
        self.net.load_state_dict(load_file(path or WEIGHTS / "evaluator.safetensors"))
        self.net.eval()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted class of images in [0, 1]."""
        return self.net(_as_digits(images)).argmax(dim=-1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of images the evaluator reads as their conditioning class."""
        return (self.predict(images) == labels).float().mean().item()


class DigitsEvaluation(Evaluation):
    """The digits world's judge: the independent evaluator's features and logits, and the 497 held-out digits."""

    name = "digits-evaluator"

    def __init__(self):
        self.evaluator = DigitsEvaluator()

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.net.features(_as_digits(images))

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.net(_as_digits(images))

    def real_images(self) -> torch.Tensor:
        from .data import load_split

        return (load_split("heldout")[0] + 1) / 2
