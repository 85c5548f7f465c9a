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

from ..evaluation import Evaluation
from ..imaging import pooled
from ..imaging import to_uint8


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


def rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (N, 1 or 3, H, W) as RGB uint8, rounded as the PNG writer rounds them."""
    return to_uint8(images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images)


def _channels(evaluation: Evaluation, reference: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Evaluator inputs get the reference set's channel count back from torchmetrics' RGB."""
    channels = reference.shape[1]
    return lambda images: images[:, :channels] if channels < images.shape[1] else images


def fid(evaluation: Evaluation, generated: torch.Tensor) -> float:
    """FID of generated images against the world's real images, in evaluator feature space."""
    real = evaluation.real_images()
    keep = _channels(evaluation, real)
    metric = FrechetInceptionDistance(feature=_Extractor(lambda x: evaluation.features(keep(x)), real.shape[-1]))
    metric.update(rgb_uint8(real), real=True)
    metric.update(rgb_uint8(generated), real=False)
    return float(metric.compute())


def inception_score(evaluation: Evaluation, generated: torch.Tensor) -> Optional[float]:
    """Inception Score of generated images under the evaluator's classifier (None without one)."""
    real = evaluation.real_images()
    keep = _channels(evaluation, real)
    if evaluation.logits(real[:1]) is None:
        return None
    metric = InceptionScore(feature=_Extractor(lambda x: evaluation.logits(keep(x)), real.shape[-1]), splits=1)
    metric.update(rgb_uint8(generated))
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


def judged_accuracy(verdicts) -> dict[str, float]:
    """GenEval-style accuracy from an evaluation's ``judge``: ``accuracy:CATEGORY`` over each category's decidable
    verdicts and ``accuracy``, the mean of the categories (each counts once, however many prompts it has)."""
    by_category: dict[str, list[bool]] = {}
    for category, correct in verdicts:
        if correct is not None:
            by_category.setdefault(category, []).append(bool(correct))
    values = {f"accuracy:{c}": sum(v) / len(v) for c, v in by_category.items()}
    if by_category:
        values["accuracy"] = sum(values.values()) / len(values)
    return values


class CLIPScore(Metric):
    """CLIPScore (Hessel et al. 2021): 100 * max(cos(image, text), 0), averaged, with a transformers CLIP model.

    ``model`` is a hub id or a local folder (loaded with ``local_files_only`` when it is a folder).
    torchmetrics' own ``CLIPScore`` accepts only a fixed list of hub ids and, with transformers 5, fails on its
    feature outputs; this metric keeps its definition and its torchmetrics state handling.
    """

    full_state_update = False

    def __init__(self, model: str, **kwargs):
        super().__init__(**kwargs)
        from pathlib import Path

        from transformers import CLIPModel, CLIPProcessor

        local = Path(model).is_dir()
        self.model = CLIPModel.from_pretrained(model, local_files_only=local).eval()
        self.processor = CLIPProcessor.from_pretrained(model, local_files_only=local)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    @torch.no_grad()
    def update(self, images: torch.Tensor, prompts: list[str]) -> None:
        images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        pixels = self.processor(images=list(images.float().clamp(0, 1)), return_tensors="pt", do_rescale=False)
        text = self.processor(text=list(prompts), return_tensors="pt", padding=True, truncation=True)
        image_features = F.normalize(pooled(self.model.get_image_features(**pixels)), dim=-1)
        text_features = F.normalize(pooled(self.model.get_text_features(**text)), dim=-1)
        scores = 100 * (image_features * text_features).sum(dim=-1).clamp(min=0)
        self.total += scores.double().sum()
        self.count += len(prompts)

    def compute(self) -> torch.Tensor:
        return self.total / self.count


def clip_score(model: str, images: torch.Tensor, prompts: list[str]) -> float:
    """Mean CLIPScore of images against their prompts."""
    metric = CLIPScore(model)
    metric.update(images, prompts)
    return float(metric.compute())
