"""Set-level metrics on torchmetrics, computed with a world's evaluator network (never the search's verifier).

- FID: Frechet distance between Gaussians fitted to evaluator features (Heusel et al. 2017), torchmetrics'
  ``FrechetInceptionDistance`` with the evaluator as its feature extractor.
- Inception Score: exp(E KL(p(y|x) || p(y))) (Salimans et al. 2016), torchmetrics' ``InceptionScore`` with the
  evaluator's classifier.
- Precision and recall of k-NN manifolds (Kynkaanniemi et al. 2019), a torchmetrics ``Metric`` here.
- Accuracy: the evaluator's reading of class-conditional samples, torchmetrics' ``MulticlassAccuracy``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore

from .evaluation import Evaluation


class _Extractor(nn.Module):
    """Adapts an evaluator function to torchmetrics' image feature interface (uint8 N x 3 x H x W)."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor], size: int):
        super().__init__()
        self.function = function
        self.size = size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if images.shape[-1] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.function(images).double()


def _rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def _channels(evaluation: Evaluation, reference: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Evaluator inputs get the reference set's channel count back from torchmetrics' RGB."""
    channels = reference.shape[1]
    return lambda images: images[:, :channels] if channels < images.shape[1] else images


def fid(evaluation: Evaluation, generated: torch.Tensor) -> float:
    """FID of generated images against the world's real images, in evaluator feature space."""
    real = evaluation.real_images()
    keep = _channels(evaluation, real)
    metric = FrechetInceptionDistance(feature=_Extractor(lambda x: evaluation.features(keep(x)), real.shape[-1]))
    metric.update(_rgb_uint8(real), real=True)
    metric.update(_rgb_uint8(generated), real=False)
    return float(metric.compute())


def inception_score(evaluation: Evaluation, generated: torch.Tensor) -> Optional[float]:
    """Inception Score of generated images under the evaluator's classifier (None without one)."""
    real = evaluation.real_images()
    keep = _channels(evaluation, real)
    if evaluation.logits(real[:1]) is None:
        return None
    metric = InceptionScore(feature=_Extractor(lambda x: evaluation.logits(keep(x)), real.shape[-1]), splits=1)
    metric.update(_rgb_uint8(generated))
    return float(metric.compute()[0])


class ManifoldPrecisionRecall(Metric):
    """Precision and recall of k-NN manifolds in a feature space (Kynkaanniemi et al. 2019)."""

    full_state_update = False

    def __init__(self, k: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.add_state("real", default=[], dist_reduce_fx="cat")
        self.add_state("fake", default=[], dist_reduce_fx="cat")

    def update(self, features: torch.Tensor, real: bool) -> None:
        (self.real if real else self.fake).append(features.double())

    @staticmethod
    def _covered(reference: torch.Tensor, queries: torch.Tensor, k: int) -> torch.Tensor:
        radii = torch.cdist(reference, reference).kthvalue(min(k + 1, len(reference)), dim=1).values
        return (torch.cdist(queries, reference) <= radii[None, :]).any(dim=1).double().mean()

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        real = torch.cat(self.real) if isinstance(self.real, list) else self.real
        fake = torch.cat(self.fake) if isinstance(self.fake, list) else self.fake
        return self._covered(real, fake, self.k), self._covered(fake, real, self.k)


def precision_recall(evaluation: Evaluation, generated: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision (fidelity) and recall (coverage) of generated images against the real set."""
    metric = ManifoldPrecisionRecall(k)
    with torch.no_grad():
        metric.update(evaluation.features(evaluation.real_images()), real=True)
        metric.update(evaluation.features(generated), real=False)
    precision, recall = metric.compute()
    return float(precision), float(recall)


def accuracy(evaluation: Evaluation, generated: torch.Tensor, labels: torch.Tensor) -> Optional[float]:
    """Fraction of class-conditional samples the evaluator reads as their class."""
    with torch.no_grad():
        logits = evaluation.logits(generated)
    if logits is None:
        return None
    metric = MulticlassAccuracy(num_classes=logits.shape[1], average="micro")
    return float(metric(logits.argmax(dim=1), labels))
