"""ODE samplers as objects: Euler (DDIM), Heun (EDM), DPM-Solver++(2M) and UniPC (bh2, order 2), one class each, found
in ``SAMPLERS``.

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

# multistep samplers: the level before and its x0-prediction (UniPC: the two levels before and, stacked on the second
# axis, their x0-predictions and the corrected state at the first)
History = Optional[tuple[Any, torch.Tensor]]


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


def _lam(a: float, b: float) -> float:
    """The log signal-to-noise ratio ``log(a / b)`` (infinite at pure noise and at clean)."""
    return -math.inf if a == 0 else math.inf if b == 0 else math.log(a / b)


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
        lam, lam_next, lam_before = _lam(a, b), _lam(a_next, b_next), _lam(*frame.coefficients(level_before))
        h, h_before = lam_next - lam, lam - lam_before
        return 0.5 * (a_next - a * b_next / b) * (h / h_before) * (x0 - x0_before)


class UniPC(Sampler):
    """UniPC (Zhao et al. 2023) as diffusers' ``UniPCMultistepScheduler`` in Wan's form: data prediction, B(h) =
    e^-h - 1 (bh2), order 2 with a first-order first and last step (``lower_order_final``). Each step first corrects
    the state the step before predicted, with the x0-prediction made there (UniC: no extra call), then predicts the
    next (UniP); the prediction is made at the uncorrected state, as the scheduler makes it."""

    name = "unipc"
    multistep = True

    def __init__(self, frame: Frame = EDM, history: History = None):
        self.frame = frame
        self.before: Optional[tuple[float, torch.Tensor, torch.Tensor]] = None  # a level, x0 there, corrected state
        self.before2: Optional[tuple[float, torch.Tensor]] = None  # the level before that and its x0
        if history is not None:
            (level, level2), stacked = history
            self.before = (level, stacked[:, 0], stacked[:, 1])
            self.before2 = None if level2 < 0 else (level2, stacked[:, 2])

    @property
    def history(self) -> History:
        if self.before is None:
            return None
        level, x0, corrected = self.before
        level2, x0_2 = self.before2 if self.before2 is not None else (-1.0, torch.zeros_like(x0))  # -1: none
        return (level, level2), torch.stack([x0, corrected, x0_2], dim=1)

    def step(self, denoiser, x, x0, sigma, sigma_next, cond):
        level, level_next = float(sigma), float(sigma_next)
        if self.before is not None:
            x = self._corrected(x, x0, level)
        x_next = ddim_step(x, x0, level, level_next, self.frame)
        if self.before is not None and level_next != 0:
            x_next = self._predicted(x_next, x0, level, level_next)
        self.before2 = None if self.before is None else self.before[:2]
        self.before = (level, x0, x)
        return x_next

    def _step_of(self, level: float, level_next: float, level_other: float) -> tuple[float, float, float]:
        """``a`` at ``level_next``, the step ``h`` in log-SNR, and ``r``: how far ``level_other`` lies from ``level``
        in steps of ``h`` (not finite where a level is pure noise)."""
        lam = [_lam(*self.frame.coefficients(value)) for value in (level, level_next, level_other)]
        h = lam[1] - lam[0]
        r = (lam[2] - lam[0]) / h if math.isfinite(h) and math.isfinite(lam[2]) else math.nan
        return self.frame.coefficients(level_next)[0], h, r

    def _predicted(self, x_next: torch.Tensor, x0: torch.Tensor, level: float, level_next: float) -> torch.Tensor:
        """UniP-2's second-order term added to the first-order step ``x_next``."""
        level_before, x0_before, _ = self.before
        a_next, h, r = self._step_of(level, level_next, level_before)
        return x_next if not math.isfinite(r) else x_next - a_next * math.expm1(-h) * 0.5 * (x0_before - x0) / r

    def _corrected(self, x: torch.Tensor, x0: torch.Tensor, level: float) -> torch.Tensor:
        """UniC: the state at ``level`` corrected from the step before, of the order that step's prediction had."""
        level_before, x0_before, corrected_before = self.before
        base = ddim_step(corrected_before, x0_before, level_before, level, self.frame)
        a, h, r = self._step_of(level_before, level, self.before2[0] if self.before2 is not None else math.nan)
        b_h = math.expm1(-h)  # B(h) of bh2
        if not math.isfinite(r):  # the step before predicted to first order: rho = 1/2
            return base - a * b_h * 0.5 * (x0 - x0_before)
        hh = -h
        phi = b_h / hh - 1
        b1 = phi / b_h
        b2 = (phi / hh - 0.5) * 2 / b_h
        rho = (b2 - b1) / (r - 1)  # [[1, 1], [r, 1]] (rho, rho_t) = (b1, b2)
        d1 = (self.before2[1] - x0_before) / r
        return base - a * b_h * (rho * d1 + (b1 - rho) * (x0 - x0_before))


SAMPLERS: dict[str, type[Sampler]] = {cls.name: cls for cls in (Euler, Heun, DPMSolver2M, UniPC)}


SAMPLER_NAMES = tuple(SAMPLERS)


def sampler_class(name: str) -> type[Sampler]:
    """The sampler registered as ``name``; an unknown name raises a ValueError naming the known ones."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
