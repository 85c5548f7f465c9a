"""Base of the embedded worlds' pipelines: pixel-space EDM denoisers in a folder described by ``noisesearch.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Optional

import torch

from .edm import edm_x0
from noisesearch.plugin import Family, Pipeline, UsageError, karras_sigmas


def read_card(folder: Path) -> dict:
    """The folder's ``noisesearch.json``: family, EDM constants and image size."""
    return json.loads((Path(folder) / "noisesearch.json").read_text())


class EmbeddedFamily(Family):
    """A world trained by this project: a folder whose ``noisesearch.json`` names the family, of one fixed size."""

    @classmethod
    def claims(cls, folder: Path) -> bool:
        card = Path(folder) / "noisesearch.json"
        return card.is_file() and json.loads(card.read_text()).get("family") == cls.name

    words = None  # a text world's ``Words``: prompts with other words are refused

    def check_conditions(self, conditions) -> None:
        super().check_conditions(conditions)
        if self.words is not None:
            for condition in conditions:
                self.words.check(condition.prompt)

    def check_size(self, height: int, width: int) -> None:
        if (height, width) != (self.default_height, self.default_width):
            raise UsageError(f"pipeline {self.name!r} makes {self.default_height}x{self.default_width} images only, "
                             f"not {height}x{width}; drop model.height/model.width")


class EmbeddedPipeline(Pipeline):
    """A world trained by this project: Karras schedule over the card's EDM constants (Karras et al. 2022)."""

    weights: ClassVar[Path]  # the folder shipped in the package, used when no source is given

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        self.folder = Path(source) if source else self.weights
        card = read_card(self.folder)
        self.sigma_data, self.sigma_min, self.sigma_max, self.rho = (
            card["sigma_data"], card["sigma_min"], card["sigma_max"], card["rho"])

    def sigmas(self, steps: int) -> torch.Tensor:
        return karras_sigmas(steps, self.sigma_min, self.sigma_max, self.rho)

    def unet_conditioning(self, cond: torch.Tensor, x: torch.Tensor) -> dict:
        """The UNet's conditioning keywords for per-sample encodings ``cond``."""
        raise NotImplementedError

    def null_condition(self, cond: torch.Tensor) -> torch.Tensor:
        """The unconditional encodings classifier-free guidance contrasts ``cond`` with (same shape)."""
        raise NotImplementedError

    def denoiser_network(self) -> torch.nn.Module:
        return self.unet

    def network(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """EDM-preconditioned x0-prediction (Karras et al. 2022, table 1) for per-sample ``sigma``."""
        return edm_x0(self.unet, x, sigma.to(x.dtype), self.sigma_data, **self.unet_conditioning(cond, x))

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The x0-prediction, guided against the null condition (Ho & Salimans 2022) when the run's guidance is
        not 1."""
        guidance = self.run.guidance
        if guidance == 1.0:
            return self.network(x, sigma, cond)
        both = self.network(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([cond, self.null_condition(cond)]))
        conditioned, null = both.chunk(2)
        return null + guidance * (conditioned - null)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from the data range [-1, 1]."""
        return ((x0 + 1) / 2).clamp(0, 1)
