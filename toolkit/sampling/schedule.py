"""Sampling in sigma space: schedules, forward re-noising, ancestral steps (the solves are ``samplers``).

Each steps in the family's own latent, scaled by its frame (``noisesearch.sampling.frames``); EDM's by default.

The probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma of Karras et al. (EDM, 2022), the deterministic
sampler Ma et al. (arXiv 2501.09732) search over: each initial noise maps to one sample.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from .denoiser import Denoiser
from .frames import EDM, Frame
from .samplers import predict_x0


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """The EDM noise levels from sigma_max down to sigma_min, with a final 0 (``steps + 1`` values)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + ramp * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def renoise(x: torch.Tensor, sigma_from: float, sigma_to: float, noise: torch.Tensor, frame: Frame = EDM) -> torch.Tensor:
    """The forward (noising) process from ``sigma_from`` up to ``sigma_to`` with unit-variance ``noise``."""
    if sigma_to < sigma_from:
        raise ValueError("renoise goes up in noise level: sigma_to must be >= sigma_from")
    (a, _), (a_to, _) = frame.coefficients(sigma_from), frame.coefficients(sigma_to)
    real_from, real_to = frame.real_sigma(sigma_from), frame.real_sigma(sigma_to)
    if math.isinf(real_to):
        return noise.to(x)
    return a_to * (x / a + (real_to**2 - real_from**2) ** 0.5 * noise.to(x))


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
        x0 = predict_x0(denoiser, x, torch.tensor(sigma), cond)
    (a, b), (a_next, _) = frame.coefficients(sigma), frame.coefficients(sigma_next)
    real, real_next = frame.real_sigma(sigma), frame.real_sigma(sigma_next)
    if math.isinf(real):
        sigma_up = real_next
    else:
        sigma_up = min(real_next, (real_next**2 * (real**2 - real_next**2) / real**2) ** 0.5)
    sigma_down = (real_next**2 - sigma_up**2) ** 0.5
    return a_next * (x0 + sigma_down * (x - a * x0) / b + sigma_up * noise.to(x))


def sigmas_between(sigmas: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
    """The part of a schedule from level ``sigma_a`` down to ``sigma_b`` (both kept as end points; one point, no
    step, when they are the same level)."""
    if sigma_a == sigma_b:
        return sigmas.new_tensor([sigma_a])
    inner = sigmas[(sigmas < sigma_a) & (sigmas > sigma_b)]
    return torch.cat([sigmas.new_tensor([sigma_a]), inner, sigmas.new_tensor([sigma_b])])
