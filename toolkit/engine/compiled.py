"""``model.compile``: ``torch.compile`` of a pipeline's denoiser network, whole or by its repeated blocks, and the
padding that keeps every call at one batch size so a compiled network never recompiles mid-run."""

from __future__ import annotations

from typing import Optional

import torch

from ..errors import UsageError
from ..pipeline import Pipeline


def compile_denoiser(pipeline: Pipeline, how: str) -> None:
    """Compile the network every denoiser call runs: ``denoiser`` (all of it) or ``regional`` (each block of the
    classes it names in diffusers' ``_repeated_blocks``; instances of a class share one compiled graph)."""
    if how == "off":
        return
    network = pipeline.denoiser_network()
    if network is None:
        raise UsageError(f"model.compile {how}: pipeline {pipeline.family.display_name()!r} exposes no denoiser "
                         "network to compile; leave model.compile off")
    if how == "denoiser":
        network.compile(dynamic=False)
        return
    names = set(getattr(network, "_repeated_blocks", None) or ())
    blocks = [module for module in network.modules() if type(module).__name__ in names]
    if not blocks:
        raise UsageError(f"model.compile regional: the denoiser ({type(network).__name__}) declares no repeated block "
                         "(diffusers' _repeated_blocks); use model.compile denoiser")
    for block in blocks:
        block.compile(dynamic=False)


def padded(rows: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    """``rows`` with its last row repeated up to ``size`` rows (None or no shortfall: as it is)."""
    short = 0 if size is None else size - rows.shape[0]
    if short <= 0:
        return rows
    longer = torch.cat([rows, rows[-1:].expand(short, *rows.shape[1:])])
    host = getattr(rows, "host_values", None)  # a level batch's host copy (``levels_of``) pads along
    if host is not None:
        longer.host_values = tuple(host) + (host[-1],) * short
    return longer
