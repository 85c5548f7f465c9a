"""The Verifier protocol: V(sample, condition) -> score (Ma et al. 2025, section 3), batched and batch-invariant."""

from __future__ import annotations

from typing import ClassVar, Optional, Sequence

import torch
from torch import nn

from .conditions import Condition
from .errors import UsageError


class Verifier(nn.Module):
    """Base class of verifier plugins: ``score(images, conditions)`` returns one float per image."""

    name: ClassVar[str]
    condition_kinds: ClassVar[tuple[str, ...]] = ("class", "prompt")
    higher_is_better: ClassVar[bool] = True
    differentiable: ClassVar[bool] = False

    def __init__(self, spec: Optional[str] = None):
        super().__init__()
        self.spec = spec

    @classmethod
    def check_conditions(cls, kind: str) -> None:
        """Raise a UsageError if this verifier cannot judge samples conditioned on ``kind``."""
        if kind not in cls.condition_kinds:
            raise UsageError(
                f"verifier {cls.name!r} judges {' or '.join(cls.condition_kinds)} conditions, not {kind}s; "
                "pick a verifier for this pipeline (see `noisesearch list`)"
            )

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        """Scores of images in [0, 1] (B, C, H, W) against their conditions, one float per image."""
        raise NotImplementedError
