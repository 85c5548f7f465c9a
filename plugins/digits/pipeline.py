"""The embedded ``digits`` pipeline: a class-conditional diffusers UNet2DModel with EDM preconditioning."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch
from diffusers import UNet2DModel

from noisesearch.conditions import Condition
from noisesearch.edm import edm_scalings
from noisesearch.embedded import EmbeddedPipeline

WEIGHTS = Path(__file__).parent / "weights"
FAMILY = "digits"


class DigitsPipeline(EmbeddedPipeline):
    """Embedded 16x16 class-conditional digits model (diffusers UNet2DModel, EDM), trained by this project."""

    name = "digits"
    condition_kind = "class"
    num_classes = 10
    class_names = tuple(f"handwritten digit {i}" for i in range(10))
    default_steps = 4
    default_guidance = 1.0
    default_sampler = "heun"
    default_verifiers = ("digits-classifier",)
    default_height = 16
    default_width = 16
    family = FAMILY
    weights = WEIGHTS

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        self.unet = UNet2DModel.from_pretrained(self.folder / "unet", local_files_only=True).eval()

    @classmethod
    def evaluation(cls):
        from .verifier import DigitsEvaluation

        return DigitsEvaluation()

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (1, height, width)

    def encode(self, conditions: Sequence[Condition]) -> torch.Tensor:
        return torch.tensor([condition.class_label for condition in conditions], dtype=torch.long)

    def network(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """EDM-preconditioned x0-prediction (Karras et al. 2022, table 1) for per-sample ``sigma``."""
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma.to(x.dtype), self.sigma_data)
        out = self.unet(c_in * x, c_noise, class_labels=labels.to(x.device)).sample
        return c_skip * x + c_out * out

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor, guidance: float) -> torch.Tensor:
        if guidance == 1.0:
            return self.network(x, sigma, labels)
        null = torch.full_like(labels, self.num_classes)
        both = self.network(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([labels, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)
