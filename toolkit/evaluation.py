"""What a world offers to judge outputs: an evaluator network that search never uses, and real images."""

from __future__ import annotations

from typing import Optional

import torch


class Evaluation:
    """Base class: a pipeline family returns one from ``Pipeline.evaluation()`` (None when it has none)."""

    name: str = "evaluator"

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Evaluator features (N, d) of images in [0, 1] (N, C, H, W): the space of FID, precision and recall."""
        raise NotImplementedError

    def logits(self, images: torch.Tensor) -> Optional[torch.Tensor]:
        """Evaluator class logits (N, K) for Inception Score and accuracy, or None for text-conditional worlds."""
        return None

    def real_images(self) -> torch.Tensor:
        """Held-out real images in [0, 1], the reference set of FID and precision/recall."""
        raise NotImplementedError
