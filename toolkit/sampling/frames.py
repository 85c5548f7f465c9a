"""Latent frames: how a family's latent relates to its clean sample at a noise level, ``z = a x0 + b eps``.

The core names noise levels by the EDM sigma (Karras et al. 2022), the noise-to-signal ratio ``b / a``; a family's
frame says how its own latent is scaled there. The samplers step in the family's latent, so the first level may be
pure noise (flow matching at t = 1, sigma infinite) and the last may stop short of clean (DDIM's final alpha).
"""

from __future__ import annotations

import math


class Frame:
    """EDM's frame (Karras et al. 2022): ``z = x0 + sigma * eps``, the one the embedded worlds sample in."""

    def coefficients(self, sigma: float) -> tuple[float, float]:
        """``(a, b)`` of ``z = a x0 + b eps`` at level ``sigma`` (the level the schedule calls 0 may end above 0)."""
        return 1.0, sigma

    def real_sigma(self, sigma: float) -> float:
        """The noise-to-signal ratio actually reached at level ``sigma`` (differs from it only at a floored 0)."""
        a, b = self.coefficients(sigma)
        return math.inf if a == 0 else b / a


class VariancePreserving(Frame):
    """DDPM's frame (Ho et al. 2020), used by SD 1.x/2.x, SDXL, PixArt and DiT: ``a = 1/sqrt(1 + s^2)``, ``b = s a``.

    ``floor`` is the sigma the schedule's final level really stops at: DDIM with ``set_alpha_to_one=False``
    returns a latent still at sqrt((1 - alphas_cumprod[0]) / alphas_cumprod[0]), which its pipeline decodes as is.
    """

    def __init__(self, floor: float = 0.0):
        self.floor = floor

    def coefficients(self, sigma: float) -> tuple[float, float]:
        if sigma == 0.0:
            sigma = self.floor
        if math.isinf(sigma):
            return 0.0, 1.0
        a = 1.0 / math.sqrt(1.0 + sigma * sigma)
        return a, sigma * a


class FlowMatching(Frame):
    """Rectified flow's frame (Esser et al. 2024), used by SD3, FLUX and Sana: ``z = (1 - t) x0 + t eps``,
    ``t = s / (1 + s)``; t = 1 is sigma infinite."""

    def coefficients(self, sigma: float) -> tuple[float, float]:
        if math.isinf(sigma):
            return 0.0, 1.0
        t = sigma / (1.0 + sigma)
        return 1.0 - t, t


EDM = Frame()
