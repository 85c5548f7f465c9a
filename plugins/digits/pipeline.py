"""The embedded ``digits`` pipeline: a class-conditional diffusers UNet2DModel with EDM preconditioning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import torch
from diffusers import UNet2DModel

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.pipeline import Pipeline
from noisesearch.sampling import karras_sigmas

WEIGHTS = Path(__file__).parent / "weights"
FAMILY = "digits"


def read_card(folder: Path) -> dict:
    """The folder's ``noisesearch.json``: family, EDM constants and image size."""
    return json.loads((Path(folder) / "noisesearch.json").read_text())


class DigitsPipeline(Pipeline):
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

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        folder = Path(source) if source else WEIGHTS
        card = read_card(folder)
        self.sigma_data = card["sigma_data"]
        self.sigma_min = card["sigma_min"]
        self.sigma_max = card["sigma_max"]
        self.rho = card["rho"]
        self.unet = UNet2DModel.from_pretrained(folder / "unet", local_files_only=True).eval()

    @classmethod
    def evaluation(cls):
        from .verifier import DigitsEvaluation

        return DigitsEvaluation()

    @classmethod
    def claims(cls, folder: Path) -> bool:
        card = Path(folder) / "noisesearch.json"
        return card.is_file() and json.loads(card.read_text()).get("family") == FAMILY

    @classmethod
    def check_size(cls, height: int, width: int) -> None:
        if (height, width) != (cls.default_height, cls.default_width):
            raise UsageError(
                f"pipeline 'digits' makes {cls.default_height}x{cls.default_width} images only, not "
                f"{height}x{width}; drop model.height/model.width"
            )

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (1, height, width)

    def sigmas(self, steps: int) -> torch.Tensor:
        return karras_sigmas(steps, self.sigma_min, self.sigma_max, self.rho)

    def encode(self, conditions: Sequence[Condition]) -> torch.Tensor:
        return torch.tensor([condition.class_label for condition in conditions], dtype=torch.long)

    def network(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """EDM-preconditioned x0-prediction (Karras et al. 2022, table 1) for per-sample ``sigma``."""
        sigma = sigma.view(-1, 1, 1, 1).to(x.dtype)
        total = sigma**2 + self.sigma_data**2
        c_skip = self.sigma_data**2 / total
        c_out = sigma * self.sigma_data / total.sqrt()
        c_in = 1 / total.sqrt()
        c_noise = sigma.flatten().log() / 4
        out = self.unet(c_in * x, c_noise, class_labels=labels.to(x.device)).sample
        return c_skip * x + c_out * out

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor, guidance: float) -> torch.Tensor:
        if guidance == 1.0:
            return self.network(x, sigma, labels)
        null = torch.full_like(labels, self.num_classes)
        both = self.network(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([labels, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return (x0 + 1) / 2
