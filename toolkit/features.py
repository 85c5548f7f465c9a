"""Model outputs as feature tensors, whatever the library version returns."""

from __future__ import annotations

import torch


def pooled(output) -> torch.Tensor:
    """Projected CLIP features from either a tensor or a transformers output object (transformers 4 and 5)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
