"""EDM preconditioning (Karras et al. 2022, table 1), shared by the embedded worlds' pixel-space denoisers."""

from __future__ import annotations

import torch


def edm_scalings(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, ...]:
    """``c_skip, c_out, c_in`` shaped (B, 1, 1, 1) and ``c_noise`` shaped (B,) for per-sample ``sigma``."""
    s = sigma.reshape(-1, 1, 1, 1)
    total = s**2 + sigma_data**2
    return sigma_data**2 / total, s * sigma_data / total.sqrt(), 1 / total.sqrt(), sigma.flatten().log() / 4


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """The loss weight that gives every noise level unit-variance targets, shaped (B, 1, 1, 1)."""
    s = sigma.reshape(-1, 1, 1, 1)
    return (s**2 + sigma_data**2) / (s * sigma_data) ** 2


def edm_x0(unet, x: torch.Tensor, sigma: torch.Tensor, sigma_data: float, **conditioning) -> torch.Tensor:
    """The EDM-preconditioned x0-prediction of a diffusers UNet (``unet(c_in x, c_noise, **conditioning)``)."""
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma, sigma_data)
    return c_skip * x + c_out * unet(c_in * x, c_noise, **conditioning).sample


def edm_loss(unet, images: torch.Tensor, sigma: torch.Tensor, sigma_data: float, **conditioning) -> torch.Tensor:
    """The weighted denoising loss of EDM training at per-sample noise levels ``sigma`` (fresh noise drawn here)."""
    noisy = images + sigma.view(-1, 1, 1, 1) * torch.randn_like(images)
    x0 = edm_x0(unet, noisy, sigma, sigma_data, **conditioning)
    return (edm_loss_weight(sigma, sigma_data) * (x0 - images) ** 2).mean()
