"""Conformance suite for verifiers, shipped for plugin authors: shape, direction, batch invariance, bad input."""

from __future__ import annotations

from typing import Sequence

import torch

from ..conditions import Condition
from ..verifier import Verifier


def sample_images(count: int = 6, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Deterministic test images in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, channels, size, size, generator=generator)


def check_verifier(verifier: Verifier, conditions: Sequence[Condition], images: torch.Tensor) -> None:
    """One finite float per image, a declared direction, and the same scores whatever the batch split."""
    assert isinstance(type(verifier).higher_is_better, bool), "higher_is_better must be a bool"
    assert verifier.name, "a verifier needs a name"
    previews = None
    if type(verifier).preview_sigma is not None:
        assert type(verifier).preview_sigma > 0, "preview_sigma must be a positive noise level"
        previews = images.flip(0)

    def score(rows: slice) -> torch.Tensor:
        if previews is None:
            return verifier.score(images[rows], conditions[rows])
        return verifier.score(images[rows], conditions[rows], previews=previews[rows])

    with torch.inference_mode():
        whole = score(slice(None))
        assert whole.shape == (images.shape[0],), f"expected {images.shape[0]} scores, got shape {tuple(whole.shape)}"
        assert torch.isfinite(whole).all(), "scores of valid images must be finite"
        pieces = torch.cat([score(slice(i, i + 1)) for i in range(len(conditions))])
    assert torch.allclose(whole, pieces, atol=1e-5, rtol=1e-4), "scores depend on the batch"
    for kind in ("class", "prompt"):
        if kind not in type(verifier).condition_kinds:
            from ..errors import UsageError

            try:
                type(verifier).check_conditions(kind)
            except UsageError:
                continue
            raise AssertionError(f"check_conditions accepted {kind} conditions the verifier does not judge")
