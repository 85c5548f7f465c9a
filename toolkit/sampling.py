"""Samplers in sigma space: Euler and Heun ODE solves, partial solves, forward re-noising and x0 previews.

The probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma of Karras et al. (EDM, 2022), the deterministic
sampler Ma et al. (arXiv 2501.09732) search over: each initial noise maps to one sample.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from .denoiser import Denoiser

SAMPLERS = ("euler", "heun")


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """The EDM noise levels from sigma_max down to sigma_min, with a final 0 (``steps + 1`` values)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + ramp * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def calls_per_solve(sampler: str, steps: int) -> int:
    """Denoiser calls of a full solve: Euler one per step, Heun two per step but one on the step to sigma = 0."""
    if sampler == "euler":
        return steps
    if sampler == "heun":
        return 2 * steps - 1
    raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")


def _sigma_batch(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.to(x.device, x.dtype).expand(x.shape[0])


def preview(denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
    """The x0-prediction of the denoiser at noise level ``sigma`` (one call)."""
    return denoiser(x, _sigma_batch(sigma, x), cond)


def renoise(x: torch.Tensor, sigma_from: float, sigma_to: float, noise: torch.Tensor) -> torch.Tensor:
    """The forward (noising) process from ``sigma_from`` up to ``sigma_to`` with unit-variance ``noise``."""
    if sigma_to < sigma_from:
        raise ValueError("renoise goes up in noise level: sigma_to must be >= sigma_from")
    return x + (sigma_to**2 - sigma_from**2) ** 0.5 * noise.to(x)


def solve(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any,
    sampler: str = "heun",
    on_step: Optional[Callable[[torch.Tensor, torch.Tensor], None]] = None,
    x0_first: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Integrate the ODE along ``sigmas`` (a full or partial solve, sigma_a -> sigma_b).

    ``on_step(sigma, x0_prediction)`` sees every x0-prediction the solve makes, so previews at intermediate
    levels cost no extra NFE. ``x0_first``, the already known prediction at the first level, saves one call.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x0 = x0_first if (i == 0 and x0_first is not None) else preview(denoiser, x, sigma, cond)
        if on_step is not None:
            on_step(sigma, x0)
        slope = (x - x0) / sigma
        x_next = x + (sigma_next - sigma) * slope
        if sampler == "heun" and sigma_next > 0:
            x0_next = preview(denoiser, x_next, sigma_next, cond)
            slope_next = (x_next - x0_next) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (slope + slope_next)
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
) -> torch.Tensor:
    """One stochastic (ancestral Euler) step: the ODE down to sigma_down, then fresh noise up to sigma_next.

    The stochastic sampler SMC and beam search need (Singhal et al. 2025): resampled copies diverge.
    """
    sigma_up = min(sigma_next, (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5)
    sigma_down = (sigma_next**2 - sigma_up**2) ** 0.5
    if x0 is None:
        x0 = preview(denoiser, x, torch.tensor(sigma), cond)
    x = x + (sigma_down - sigma) * (x - x0) / sigma
    return x + sigma_up * noise.to(x)


def segment_calls(sampler: str, sigmas: torch.Tensor) -> int:
    """Denoiser calls of ``solve`` along ``sigmas`` (Heun saves its correction on a step to sigma = 0)."""
    steps = len(sigmas) - 1
    if sampler == "euler" or steps == 0:
        return steps
    return 2 * steps - (1 if float(sigmas[-1]) == 0.0 else 0)


def sigmas_between(sigmas: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
    """The part of a schedule from level ``sigma_a`` down to ``sigma_b`` (both kept as end points)."""
    inner = sigmas[(sigmas < sigma_a) & (sigmas > sigma_b)]
    return torch.cat([sigmas.new_tensor([sigma_a]), inner, sigmas.new_tensor([sigma_b])])
