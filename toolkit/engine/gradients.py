"""Gradients of the verifiers' aggregate with respect to the initial noise, through the whole solve (ReNO,
Eyring et al. 2024): scored by the same ``Scorer`` as every other candidate."""

from __future__ import annotations

from typing import Any

import torch

from ..conditions import Condition
from .plans import Planner
from .scoring import Scorer


def solve_with_gradient(planner: Planner, scorer: Scorer, noises: torch.Tensor, cond: Any,
                        conditions: list[Condition]):
    """A full solve with autograd: (x, images, raw scores, d objective / d noise), all detached."""
    with torch.inference_mode(False), torch.enable_grad():
        noise = noises.clone().requires_grad_(True)
        solved = planner.run(None, noise, _clone(cond))
        values = scorer.values(solved.images, conditions,
                               lambda: planner.decode_previews(solved.previews, solved.images))
        (gradient,) = torch.autograd.grad(scorer.objective(values), noise)
    raw = {name: scored.detach().float().cpu().tolist() for name, scored in values.items()}
    return solved.x.detach(), solved.images.detach(), raw, gradient.detach()


def _clone(encoded: Any) -> Any:
    """A copy of an encoding usable by autograd (encodings made under inference mode are not)."""
    if isinstance(encoded, dict):
        return {key: _clone(value) for key, value in encoded.items()}
    return encoded.clone() if isinstance(encoded, torch.Tensor) else encoded
