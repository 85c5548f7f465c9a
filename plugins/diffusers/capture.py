"""How a diffusers pipeline calls its denoiser, read from the pipeline itself: one call started and stopped at the
denoiser's first forward, so no family's conditioning (SDXL's time ids, FLUX's packed ids and distilled guidance,
SD3's pooled projections, PixArt's masks, DiT's class labels) is re-implemented here."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch


class _Stop(Exception):
    """Raised from the denoiser's forward once the pipeline has built its first call."""

    def __init__(self, arguments: dict[str, Any]):
        super().__init__()
        self.arguments = arguments


@dataclass
class Captured:
    """The denoiser's first call: its arguments by name, and the pipeline's scheduler as set for the run; ``calls``
    holds every call captured (a pipeline that guides by a second call: the conditioned call, then the null one)."""

    arguments: dict[str, Any]
    scheduler: Any
    calls: tuple[dict[str, Any], ...] = ()


def capture_first_call(pipe, denoiser: torch.nn.Module, count: int = 1, **call) -> Captured:
    """Run ``pipe(**call)`` up to its denoiser's ``count``-th forward and return what those forwards were given
    (the ones before the last answer zeros shaped as their sample)."""
    signature = inspect.signature(type(denoiser).forward)
    seen: list[dict[str, Any]] = []

    def stop(*args, **kwargs):
        bound = signature.bind(denoiser, *args, **kwargs)
        seen.append({name: value for name, value in bound.arguments.items() if name != "self"})
        if len(seen) == count:
            raise _Stop(seen[0])
        return (torch.zeros_like(next(iter(seen[-1].values()))),)

    hooked = denoiser.__dict__.get("forward")  # an offload hook's wrapper (accelerate), put back afterwards
    denoiser.forward = stop
    try:
        pipe(**call)
    except _Stop as stopped:
        return Captured(stopped.arguments, pipe.scheduler, tuple(seen))
    finally:
        if hooked is None:
            del denoiser.forward
        else:
            denoiser.forward = hooked
    raise RuntimeError(f"{type(pipe).__name__} finished without calling its denoiser")


def flatten(arguments: dict[str, Any], prefix: tuple = ()) -> dict[tuple, Any]:
    """Nested keyword arguments (SDXL's ``added_cond_kwargs``) as one level keyed by paths."""
    flat: dict[tuple, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (name,)))
        else:
            flat[prefix + (name,)] = value
    return flat


def unflatten(flat: dict[tuple, Any]) -> dict[str, Any]:
    """The inverse of ``flatten``."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        node = nested
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    return nested


def per_row(small: dict[tuple, Any], large: dict[tuple, Any], rows: tuple[int, int]) -> set[tuple]:
    """The arguments that hold one row per model row: those whose first dimension follows the batch between two
    captured calls of ``rows`` = (rows of the small call, rows of the large one)."""
    found = set()
    for path, value in small.items():
        other = large.get(path)
        if (isinstance(value, torch.Tensor) and isinstance(other, torch.Tensor) and value.dim() > 0
                and value.shape[0] == rows[0] and other.shape[0] == rows[1] and value.shape[1:] == other.shape[1:]):
            found.add(path)
    return found
