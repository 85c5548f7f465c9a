"""The embedded ``digits`` pipeline: a class-conditional diffusers UNet2DModel with EDM preconditioning."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from noisesearch.plugin import Condition
from noisesearch_plugins.worlds.embedded import EmbeddedFamily, EmbeddedPipeline

from .networks import WEIGHTS


class DigitsPipeline(EmbeddedPipeline):
    """The loaded digits model: a class-conditional diffusers UNet2DModel with EDM preconditioning."""

    weights = WEIGHTS

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        from diffusers import UNet2DModel

        self.unet = UNet2DModel.from_pretrained(self.folder / "unet", local_files_only=True).eval()

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (1, height, width)

    def encode(self, conditions: Sequence[Condition]) -> torch.Tensor:
        return torch.tensor([condition.class_label for condition in conditions], dtype=torch.long)

    def unet_conditioning(self, labels: torch.Tensor, x: torch.Tensor) -> dict:
        return {"class_labels": labels.to(x.device)}

    def null_condition(self, labels: torch.Tensor) -> torch.Tensor:
        """Class ``num_classes``, the null class the UNet was trained with."""
        return torch.full_like(labels, self.family.num_classes)


class DigitsFamily(EmbeddedFamily, pipeline=DigitsPipeline):
    """Embedded 16x16 class-conditional digits model (diffusers UNet2DModel, EDM), trained by this project."""

    name = "digits"
    condition_kind = "class"
    num_classes = 10
    class_names = tuple(f"handwritten digit {i}" for i in range(10))
    default_steps = 4
    default_guidance = 1.0
    default_sampler = "heun"
    default_verifiers = ("digits-classifier",)
    feature_verifier = "digits-classifier"
    default_height = 16
    default_width = 16

    def evaluation(self):
        from .evaluation import DigitsEvaluation

        return DigitsEvaluation()
