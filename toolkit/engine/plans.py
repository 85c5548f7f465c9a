"""Denoising plans: one chunk of proposals that share a plan, solved from the top or from kept states.

Fresh (from the top of the schedule), continued (from a kept state), re-noised first (search over paths), a
stochastic first step (SMC, beam), stopped above 0 with an x0-preview: Ma et al. 2025, section 3.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..sampling.denoiser import CountingDenoiser
from ..pipeline import Pipeline
from ..sampling.samplers import History, predict_x0, sampler_class
from ..sampling.schedule import ancestral_step, renoise, sigmas_between
from .compiled import padded
from .state import KeptState


@dataclass
class Solved:
    """What a plan made: x at the stop level, its x0-prediction there (None at 0), the images, the previews at
    the preview level (latents), and the multistep history to continue from (None unless the sampler keeps one)."""

    x: torch.Tensor
    x0: Optional[torch.Tensor]
    images: Optional[torch.Tensor]  # None when the chunk was not decoded (kept states nobody scores)
    previews: Optional[torch.Tensor]
    history: History


@dataclass
class Start:
    """Where a plan starts: x at level ``top``, its known x0-prediction, previews and multistep history."""

    x: torch.Tensor
    top: float
    cached: Optional[torch.Tensor] = None
    previews: Optional[torch.Tensor] = None
    history: History = None


class Previews:
    """The x0-predictions a solve makes at the preview level (the last one is the preview)."""

    def __init__(self, level: Optional[float]):
        self.level = level
        self.captured: list[torch.Tensor] = []

    def see(self, sigma: float, x0: torch.Tensor) -> None:
        if self.level is not None and abs(float(sigma) - self.level) <= 1e-6 * self.level:
            self.captured.append(x0)

    def last(self, carried: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        return self.captured[-1] if self.captured else carried


class Planner:
    """Runs denoising plans on one pipeline's schedule with one sampler; every call goes through ``denoiser``."""

    def __init__(self, pipeline: Pipeline, denoiser: CountingDenoiser, sigmas: torch.Tensor, sampler: str,
                 preview_level: Optional[float], preview_size: Optional[int] = None):
        self.pipeline = pipeline
        self.preview_size = preview_size
        self.denoiser = denoiser
        self.sigmas = sigmas
        self.sampler = sampler_class(sampler)
        self.frame = pipeline.frame
        self.preview_level = preview_level

    def run(self, states: Optional[list[KeptState]], noises: Optional[torch.Tensor], cond: Any, *,
            renoise_to: Optional[float] = None, stochastic: bool = False, stop: float = 0.0,
            decode: bool = True, pad_to: Optional[int] = None) -> Solved:
        """Denoise a chunk from the top (``states`` None) or from its kept states, down to ``stop`` (``decode``
        False: no images, for kept states nobody scores; ``pad_to``: decoded in calls of that many rows)."""
        start = self._top(noises) if states is None else self._continued(states, noises, renoise_to)
        if renoise_to is not None or stochastic:
            start.history = None  # the state moved off the solve it came from
        previews = Previews(self.preview_level)
        x, cached = start.x, start.cached
        segment = sigmas_between(self.sigmas.cpu(), start.top, stop)  # levels stay on the host: steps read them
        if stochastic:
            if cached is None:
                cached = predict_x0(self.denoiser, x, segment[0], cond)
            previews.see(float(segment[0]), cached)
            x = ancestral_step(self.denoiser, x, float(segment[0]), float(segment[1]), cond, noises, cached,
                               self.frame)
            segment, cached = segment[1:], None
        solver = self.sampler(self.frame, start.history)
        x = solver.solve(self.denoiser, x, segment, cond, on_step=lambda step: previews.see(step.sigma, step.x0),
                         x0_first=cached)
        kept_history = solver.history if stop > 0 and len(segment) > 1 else None
        x0 = None
        if stop > 0:
            x0 = self.denoiser(x, torch.full((x.shape[0],), stop, device=x.device, dtype=x.dtype), cond)
            previews.see(stop, x0)
        images = None
        if decode:
            images = (self._decoded(lambda z: self.pipeline.decode_preview(z, self.preview_size), x0, pad_to)
                      if x0 is not None else self._decoded(self.pipeline.decode, x, pad_to)).float().clamp(0, 1)
        return Solved(x, x0, images, previews.last(start.previews), kept_history)

    @staticmethod
    def _decoded(decode, latents: torch.Tensor, pad_to: Optional[int]) -> torch.Tensor:
        """``decode(latents)``, in one call of ``pad_to`` rows where given (``model.pad_chunks``)."""
        return decode(padded(latents, pad_to))[: latents.shape[0]] if pad_to is not None else decode(latents)

    def _top(self, noises: torch.Tensor) -> "Start":
        return Start(self.pipeline.initial_latents(noises, self.sigmas.cpu()), float(self.sigmas[0]))

    def _continued(self, states: list[KeptState], noises: Optional[torch.Tensor],
                   renoise_to: Optional[float]) -> "Start":
        """Kept states stacked: x, its x0-prediction, previews and the multistep history they carry; re-noised
        first up to ``renoise_to`` (search over paths)."""
        level = states[0].level
        start = Start(torch.stack([state.x for state in states]), level,
                      torch.stack([state.x0 for state in states]))
        if all(state.preview is not None for state in states):
            start.previews = torch.stack([state.preview for state in states])
        if all(state.earlier is not None for state in states) and len({s.earlier[0] for s in states}) == 1:
            start.history = (states[0].earlier[0], torch.stack([state.earlier[1] for state in states]))
        if renoise_to is not None:
            start.x, start.top, start.cached = renoise(start.x, level, renoise_to, noises, self.frame), renoise_to, None
        return start

    def decode_previews(self, previews: Optional[torch.Tensor], images: torch.Tensor,
                        pad_to: Optional[int] = None) -> torch.Tensor:
        """Preview images: the decoded previews, or the images themselves above the preview level."""
        if previews is None:
            return images
        decode = lambda z: self.pipeline.decode_preview(z, self.preview_size)  # noqa: E731
        return self._decoded(decode, previews, pad_to).float().clamp(0, 1)
