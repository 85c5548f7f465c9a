"""ODE samplers as objects: Euler (DDIM), Heun (EDM) and DPM-Solver++(2M), one class each, found in ``SAMPLERS``.

Each steps in the family's own latent through its frame (``noisesearch.sampling.frames``) and owns its call count and, for
multistep samplers, its history; k-diffusion's ``sampling.py`` is the model: one screen per sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional

import torch

from .denoiser import Denoiser, level_batch
from .frames import EDM, Frame

History = Optional[tuple[float, torch.Tensor]]  # the level before and its x0-prediction (multistep samplers)


@dataclass(frozen=True)
class Step:
    """What a solve reached at one of its steps (k-diffusion's callback): the step's index, its level, the state
    ``x`` there and the denoiser's x0-prediction of it."""

    i: int
    sigma: float
    x: torch.Tensor
    x0: torch.Tensor


OnStep = Callable[[Step], None]


def _sigma_batch(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return level_batch(x, float(sigma))  # the schedule lives on the host: no step waits for the device


def predict_x0(denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
    """The x0-prediction of the denoiser at noise level ``sigma`` (one call)."""
    return denoiser(x, _sigma_batch(sigma, x), cond)


def ddim_step(x: torch.Tensor, x0: torch.Tensor, sigma: float, sigma_next: float, frame: Frame) -> torch.Tensor:
    """The DDIM / Euler step: keep the predicted noise, move to the next level (Song et al. 2021)."""
    (a, b), (a_next, b_next) = frame.coefficients(sigma), frame.coefficients(sigma_next)
    return a_next * x0 + (b_next / b) * (x - a * x0)


class Sampler:
    """One solve along a segment of levels; a subclass takes one step. An object lives for one solve.

    ``history`` continues a multistep solve (the level before and its x0-prediction); after ``solve`` it holds the
    last level stepped from, so a stopped solve can be continued with the same steps.
    """

    name: ClassVar[str]
    multistep: ClassVar[bool] = False

    def __init__(self, frame: Frame = EDM, history: History = None):
        self.frame = frame
        self.history = history if self.multistep else None

    @classmethod
    def calls(cls, sigmas: torch.Tensor) -> int:
        """Denoiser calls of a solve along ``sigmas`` (one per step unless a sampler says otherwise)."""
        return len(sigmas) - 1

    @classmethod
    def solve_calls(cls, steps: int) -> int:
        """Denoiser calls of a full solve of ``steps`` steps ending at sigma = 0."""
        return cls.calls(torch.zeros(steps + 1))

    def step(self, denoiser: Denoiser, x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor,
             sigma_next: torch.Tensor, cond: Any) -> torch.Tensor:
        """x at ``sigma_next`` from x and its x0-prediction at ``sigma``."""
        raise NotImplementedError

    def solve(self, denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: Any,
              on_step: Optional[OnStep] = None, x0_first: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Integrate along ``sigmas``; ``on_step(Step)`` sees the state reached at every step and its prediction
        (previews at intermediate levels cost no extra NFE); ``x0_first``, the prediction at the first level
        already known, saves one call."""
        on_step = step_callback(on_step)
        for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
            x0 = x0_first if (i == 0 and x0_first is not None) else predict_x0(denoiser, x, sigma, cond)
            if on_step is not None:
                on_step(Step(i, float(sigma), x, x0))
            x = self.step(denoiser, x, x0, sigma, sigma_next, cond)
        return x


def step_callback(on_step: Optional[Callable]) -> Optional[OnStep]:
    """``on_step`` as it is, or, for a callback of plugin API 2's form ``on_step(sigma, x0)``, adapted with one
    warning (until noisesearch 0.4)."""
    if on_step is None:
        return None
    import inspect
    import warnings

    try:
        parameters = [p for p in inspect.signature(on_step).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        return on_step
    if len(parameters) != 2:
        return on_step
    warnings.warn("a step callback of the form on_step(sigma, x0) (plugin API 2) is adapted until noisesearch 0.4: "
                  "take on_step(step) and read step.sigma, step.x0 (and step.x, step.i); docs/plugins.md#api-versions",
                  FutureWarning, stacklevel=3)
    return lambda step: on_step(torch.tensor(step.sigma), step.x0)


class Euler(Sampler):
    """Euler on the probability-flow ODE, which is DDIM's step in a VP frame (Song et al. 2021)."""

    name = "euler"

    def step(self, denoiser, x, x0, sigma, sigma_next, cond):
        return ddim_step(x, x0, float(sigma), float(sigma_next), self.frame)


class Heun(Sampler):
    """Heun's second-order method (Karras et al. 2022, algorithm 1): two calls a step, one on the step to 0."""

    name = "heun"

    @classmethod
    def calls(cls, sigmas: torch.Tensor) -> int:
        steps = len(sigmas) - 1
        return 0 if steps == 0 else 2 * steps - (1 if float(sigmas[-1]) == 0.0 else 0)

    def step(self, denoiser, x, x0, sigma, sigma_next, cond):
        level, level_next = float(sigma), float(sigma_next)
        x_next = ddim_step(x, x0, level, level_next, self.frame)
        if level_next == 0:
            return x_next
        if math.isinf(level):
            raise ValueError("heun cannot step from an infinite noise level; use euler")
        (a, b), (a_next, b_next) = self.frame.coefficients(level), self.frame.coefficients(level_next)
        x0_next = predict_x0(denoiser, x_next, sigma_next, cond)
        slope = (x - a * x0) / b + (x_next - a_next * x0_next) / b_next
        step = self.frame.real_sigma(level_next) - self.frame.real_sigma(level)
        return a_next * (x / a + step * 0.5 * slope)


class DPMSolver2M(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022, midpoint form): first-order without history and on the step to 0."""

    name = "dpm2m"
    multistep = True

    def step(self, denoiser, x, x0, sigma, sigma_next, cond):
        level, level_next = float(sigma), float(sigma_next)
        x_next = ddim_step(x, x0, level, level_next, self.frame)
        if self.history is not None and level_next != 0:
            correction = self._correction(x0, level, level_next)
            if correction is not None:
                x_next = x_next + correction
        self.history = (level, x0)
        return x_next

    def _correction(self, x0: torch.Tensor, sigma: float, sigma_next: float) -> Optional[torch.Tensor]:
        level_before, x0_before = self.history
        if math.isinf(level_before) or math.isinf(sigma):
            return None
        frame = self.frame
        (a, b), (a_next, b_next) = frame.coefficients(sigma), frame.coefficients(sigma_next)
        (a_before, b_before) = frame.coefficients(level_before)
        lam, lam_next, lam_before = math.log(a / b), math.log(a_next / b_next), math.log(a_before / b_before)
        h, h_before = lam_next - lam, lam - lam_before
        return 0.5 * (a_next - a * b_next / b) * (h / h_before) * (x0 - x0_before)


SAMPLERS: dict[str, type[Sampler]] = {cls.name: cls for cls in (Euler, Heun, DPMSolver2M)}


SAMPLER_NAMES = tuple(SAMPLERS)


def sampler_class(name: str) -> type[Sampler]:
    """The sampler registered as ``name``; an unknown name raises a ValueError naming the known ones."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
