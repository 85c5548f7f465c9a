"""The embedded ``motion`` pipeline: a text-conditional diffusers UNet2DConditionModel over a clip's frames stacked as
channels, in pixel space, EDM-preconditioned."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from noisesearch.plugin import UsageError
from noisesearch_plugins.shapes.pipeline import ShapesPipeline
from noisesearch_plugins.worlds.edm import edm_x0
from noisesearch_plugins.worlds.embedded import EmbeddedFamily

from .movers import FRAMES
from .words import WORDS

WEIGHTS = Path(__file__).parent / "weights"


class MotionPipeline(ShapesPipeline):
    """The loaded motion model: latents are clips (F, 3, 32, 32); the UNet sees their frames as 3F channels."""

    weights = WEIGHTS

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (FRAMES, 3, height, width)

    def network(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """EDM-preconditioned x0-prediction of whole clips (B, F, 3, H, W)."""
        flat = edm_x0(self.unet, x.flatten(1, 2), sigma.to(x.dtype), self.sigma_data,
                      **self.unet_conditioning(cond, x))
        return flat.view_as(x)


class MotionFamily(EmbeddedFamily, pipeline=MotionPipeline):
    """Embedded text-to-video model of moving coloured shapes: 6 frames of 32x32 (UNet2DConditionModel over frames
    stacked as channels + CLIPTextModel), trained here."""

    name = "motion"
    condition_kind = "prompt"
    default_steps = 8
    default_guidance = 2.0
    default_sampler = "heun"
    default_verifiers = ("motion-clip",)
    feature_verifier = "motion-clip"
    default_height = 32
    default_width = 32
    words = WORDS
    default_frames = FRAMES

    def evaluation(self):
        from .evaluation import MotionEvaluation

        return MotionEvaluation()

    def check_frames(self, frames: Optional[int], frame_rate: Optional[int]) -> None:
        if frames not in (None, FRAMES) or frame_rate is not None:
            raise UsageError(f"pipeline 'motion' makes clips of {FRAMES} frames only and takes no frame rate; "
                             "drop model.frames and model.frame_rate")
