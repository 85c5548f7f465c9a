"""Samplers in sigma space: Euler and Heun ODE solves, partial solves, forward re-noising and x0 previews.

Each steps in the family's own latent, scaled by its frame (``noisesearch.frames``); EDM's by default.

The probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma of Karras et al. (EDM, 2022), the deterministic
sampler Ma et al. (arXiv 2501.09732) search over: each initial noise maps to one sample.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from .denoiser import Denoiser
from .frames import EDM, Frame

SAMPLERS = ("euler", "heun", "dpm2m")


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """The EDM noise levels from sigma_max down to sigma_min, with a final 0 (``steps + 1`` values)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + ramp * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def calls_per_solve(sampler: str, steps: int) -> int:
    """Denoiser calls of a full solve: Euler and DPM-Solver++(2M) one per step, Heun two per step but one on the step
    to sigma = 0."""
    if sampler in ("euler", "dpm2m"):
        return steps
    if sampler == "heun":
        return 2 * steps - 1
    raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")


def _sigma_batch(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.to(x.device, x.dtype).expand(x.shape[0])


def preview(denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
    """The x0-prediction of the denoiser at noise level ``sigma`` (one call)."""
    return denoiser(x, _sigma_batch(sigma, x), cond)


def renoise(x: torch.Tensor, sigma_from: float, sigma_to: float, noise: torch.Tensor, frame: Frame = EDM) -> torch.Tensor:
    """The forward (noising) process from ``sigma_from`` up to ``sigma_to`` with unit-variance ``noise``."""
    if sigma_to < sigma_from:
        raise ValueError("renoise goes up in noise level: sigma_to must be >= sigma_from")
    (a, _), (a_to, _) = frame.coefficients(sigma_from), frame.coefficients(sigma_to)
    real_from, real_to = frame.real_sigma(sigma_from), frame.real_sigma(sigma_to)
    if math.isinf(real_to):
        return noise.to(x)
    return a_to * (x / a + (real_to**2 - real_from**2) ** 0.5 * noise.to(x))


def _euler(x: torch.Tensor, x0: torch.Tensor, sigma: float, sigma_next: float, frame: Frame) -> torch.Tensor:
    """The DDIM / Euler step: keep the predicted noise, move to the next level (Song et al. 2021)."""
    (a, b), (a_next, b_next) = frame.coefficients(sigma), frame.coefficients(sigma_next)
    return a_next * x0 + (b_next / b) * (x - a * x0)


def _multistep_correction(x0: torch.Tensor, earlier: tuple[float, torch.Tensor], sigma: float, sigma_next: float,
                          frame: Frame) -> Optional[torch.Tensor]:
    """DPM-Solver++(2M)'s second-order term (Lu et al. 2022, midpoint form) added to the first-order (DDIM) step,
    from the x0-prediction one level earlier; None where it does not apply (no earlier level, an infinite one)."""
    level_before, x0_before = earlier
    if math.isinf(level_before) or math.isinf(sigma):
        return None
    (a, b), (a_next, b_next) = frame.coefficients(sigma), frame.coefficients(sigma_next)
    (a_before, b_before) = frame.coefficients(level_before)
    lam, lam_next, lam_before = math.log(a / b), math.log(a_next / b_next), math.log(a_before / b_before)
    h, h_before = lam_next - lam, lam - lam_before
    return 0.5 * (a_next - a * b_next / b) * (h / h_before) * (x0 - x0_before)


def solve(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any,
    sampler: str = "heun",
    on_step: Optional[Callable[[torch.Tensor, torch.Tensor], None]] = None,
    x0_first: Optional[torch.Tensor] = None,
    frame: Frame = EDM,
    earlier: Optional[tuple[float, torch.Tensor]] = None,
) -> torch.Tensor:
    """Integrate the ODE along ``sigmas`` (a full or partial solve, sigma_a -> sigma_b), in the family's ``frame``.

    ``on_step(sigma, x0_prediction)`` sees every x0-prediction the solve makes, so previews at intermediate
    levels cost no extra NFE. ``x0_first``, the already known prediction at the first level, saves one call.
    ``dpm2m`` (DPM-Solver++(2M)) takes its first step first-order unless ``earlier`` (the level before and its
    x0-prediction) continues a solve, and its last step to the level named 0 first-order too (diffusers'
    ``final_sigmas_type="zero"``).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x0 = x0_first if (i == 0 and x0_first is not None) else preview(denoiser, x, sigma, cond)
        if on_step is not None:
            on_step(sigma, x0)
        level, level_next = float(sigma), float(sigma_next)
        x_next = _euler(x, x0, level, level_next, frame)
        if sampler == "dpm2m":
            correction = None if earlier is None or level_next == 0 else _multistep_correction(
                x0, earlier, level, level_next, frame)
            if correction is not None:
                x_next = x_next + correction
            earlier = (level, x0)
        if sampler == "heun" and level_next > 0:
            if math.isinf(level):
                raise ValueError("heun cannot step from an infinite noise level; use euler")
            (a, b), (a_next, b_next) = frame.coefficients(level), frame.coefficients(level_next)
            x0_next = preview(denoiser, x_next, sigma_next, cond)
            slope = (x - a * x0) / b + (x_next - a_next * x0_next) / b_next
            step = frame.real_sigma(level_next) - frame.real_sigma(level)
            x_next = a_next * (x / a + step * 0.5 * slope)
        x = x_next
    return x


def ancestral_step(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigma: float,
    sigma_next: float,
    cond: Any,
    noise: torch.Tensor,
    x0: Optional[torch.Tensor] = None,
    frame: Frame = EDM,
) -> torch.Tensor:
    """One stochastic (ancestral Euler) step: the ODE down to sigma_down, then fresh noise up to sigma_next.

    The stochastic sampler SMC and beam search need (Singhal et al. 2025): resampled copies diverge.
    """
    if x0 is None:
        x0 = preview(denoiser, x, torch.tensor(sigma), cond)
    (a, b), (a_next, _) = frame.coefficients(sigma), frame.coefficients(sigma_next)
    real, real_next = frame.real_sigma(sigma), frame.real_sigma(sigma_next)
    if math.isinf(real):
        sigma_up = real_next
    else:
        sigma_up = min(real_next, (real_next**2 * (real**2 - real_next**2) / real**2) ** 0.5)
    sigma_down = (real_next**2 - sigma_up**2) ** 0.5
    return a_next * (x0 + sigma_down * (x - a * x0) / b + sigma_up * noise.to(x))


def segment_calls(sampler: str, sigmas: torch.Tensor) -> int:
    """Denoiser calls of ``solve`` along ``sigmas`` (Heun saves its correction on a step to sigma = 0)."""
    steps = len(sigmas) - 1
    if sampler in ("euler", "dpm2m") or steps == 0:
        return steps
    return 2 * steps - (1 if float(sigmas[-1]) == 0.0 else 0)


def sigmas_between(sigmas: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
    """The part of a schedule from level ``sigma_a`` down to ``sigma_b`` (both kept as end points)."""
    inner = sigmas[(sigmas < sigma_a) & (sigmas > sigma_b)]
    return torch.cat([sigmas.new_tensor([sigma_a]), inner, sigmas.new_tensor([sigma_b])])
