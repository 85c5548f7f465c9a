"""What a world offers to judge outputs: an evaluator network that search never uses, and real images."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .conditions import Condition


class Evaluation:
    """Base class: a pipeline family returns one from ``Pipeline.evaluation()`` (None when it has none)."""

    name: str = "evaluator"
    has_features: bool = True  # False: no feature space or reference set, so no FID, IS, precision or recall

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Evaluator features (N, d) of images in [0, 1] (N, C, H, W): the space of FID, precision and recall."""
        raise NotImplementedError

    def logits(self, images: torch.Tensor) -> Optional[torch.Tensor]:
        """Evaluator class logits (N, K) for Inception Score and accuracy, or None for text-conditional worlds."""
        return None

    def real_images(self) -> torch.Tensor:
        """Held-out real images in [0, 1], the reference set of FID and precision/recall."""
        raise NotImplementedError

    def judge(self, images: torch.Tensor, conditions: Sequence[Condition]) -> Optional[list[tuple[str, Optional[bool]]]]:
        """Per image, (category, whether it shows what its condition asks; None if undecidable), or None if the
        world has no such judge (text-conditional worlds with a ground-truth checker have one)."""
        return None

    def verdicts(self, images: torch.Tensor, conditions: Sequence[Condition]
                 ) -> Optional[list[tuple[Optional[str], Optional[bool]]]]:
        """Per image, (category, correct): the world's ``judge``, else, for class conditions, whether the evaluator
        reads the image as its class (category None); None when the evaluator can do neither."""
        verdicts = self.judge(images, conditions)
        if verdicts is None and conditions and conditions[0].kind == "class":
            with torch.no_grad():
                logits = self.logits(images)
            if logits is None:
                return None
            labels = torch.tensor([c.class_label for c in conditions])
            verdicts = [(None, bool(c)) for c in (logits.argmax(dim=1).cpu() == labels).tolist()]
        return verdicts
