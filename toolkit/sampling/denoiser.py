"""The denoiser protocol ``D(x, sigma, cond) -> x0`` and the one NFE counter every call goes through."""

from __future__ import annotations

from typing import Any, Protocol

import torch


class Denoiser(Protocol):
    """Any model seen as an x0-predictor in sigma space (Karras et al. 2022 notation), batched over samples."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor: ...


def level_batch(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """One noise level for every row of ``x``, made on x's device without waiting for it; the levels also travel
    on the host as ``host_values``, for adapters that need them as numbers (``levels_of``)."""
    batch = x.new_full((x.shape[0],), float(sigma))
    batch.host_values = (float(sigma),) * x.shape[0]
    return batch


def levels_of(sigma: torch.Tensor) -> list[float]:
    """The per-row levels of a denoiser call as floats: their host copy where the sampler made one, else read
    back from the device (which waits for it)."""
    host = getattr(sigma, "host_values", None)
    if host is not None and len(host) == sigma.shape[0]:
        return list(host)
    return sigma.tolist()


def on_device(values, like: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Host numbers as a tensor on ``like``'s device, copied without waiting for the device (pinned on CUDA)."""
    host = torch.tensor(values, dtype=dtype)
    if like.is_cuda:
        return host.pin_memory().to(like.device, non_blocking=True)
    return host.to(like.device)


BACKWARD_COST = 3  # a backward pass through the network costed as 3 forward evaluations (Ma et al. 2025)


class CountingDenoiser:
    """Wraps a denoiser and counts NFEs: one per sample per network evaluation (a CFG step costs two).

    ``nfe_per_call`` is the number of network evaluations one call makes for one sample: 2 under classifier-free
    guidance (conditional and unconditional branches), 1 otherwise.
    """

    def __init__(self, denoiser: Denoiser, nfe_per_call: int = 1):
        self.denoiser = denoiser
        self.nfe_per_call = nfe_per_call
        self.nfe = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        self.nfe += x.shape[0] * self.nfe_per_call
        return self.denoiser(x, sigma, cond)

    def charge(self, nfe: int) -> None:
        """Count evaluations made outside ``__call__`` (a whole pipeline run; a backward pass)."""
        self.nfe += nfe

    def charge_backward(self, forward_nfe: int) -> None:
        """Count a backward pass through ``forward_nfe`` evaluations as 3 forwards each (Ma et al. 2025)."""
        self.charge(BACKWARD_COST * forward_nfe)
