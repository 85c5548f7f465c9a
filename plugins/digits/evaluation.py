"""The digits world's independent judge (another network, seed and training than the verifier), and the command
that judges a run folder: ``python -m noisesearch_plugins.digits.evaluation OUT_DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import torch
from noisesearch.plugin import Evaluation
from noisesearch.store.folder import RunDir
from safetensors.torch import load_file

from .networks import WEIGHTS, EvaluatorNet
from .verifier import _as_digits


class DigitsEvaluator(torch.nn.Module):
    """The independent judge of the digits world: another architecture, seed and training run than the verifier."""

    def __init__(self, path: Optional[Path] = None):
        super().__init__()
        self.net = EvaluatorNet()
        self.net.load_state_dict(load_file(path or WEIGHTS / "evaluator.safetensors"))
        self.net.eval()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted class of images in [0, 1]."""
        return self.net(_as_digits(images)).argmax(dim=-1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of images the evaluator reads as their conditioning class."""
        return (self.predict(images) == labels).float().mean().item()


class DigitsEvaluation(Evaluation):
    """The digits world's judge: the independent evaluator's features and logits, and the 497 held-out digits."""

    name = "digits-evaluator"

    def __init__(self):
        self.evaluator = DigitsEvaluator()

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.net.features(_as_digits(images))

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.net(_as_digits(images))

    def real_images(self) -> torch.Tensor:
        from .data import load_split

        return (load_split("heldout")[0] + 1) / 2


def evaluate_run(out: Path) -> dict:
    """Evaluator accuracy overall and per class of a run folder's images, with its NFEs."""
    images, conditions, summary = RunDir(out).load_images()
    labels = torch.tensor([c.class_label for c in conditions])
    correct = DigitsEvaluator().predict(images) == labels
    per_class = {int(c): round(correct[labels == c].float().mean().item(), 4) for c in labels.unique()}
    return {
        "algorithm": summary.header.model.algorithm,
        "budget_nfe": summary.header.model.budget_nfe,
        "nfe_per_search": summary.cost.nfe_used / len(conditions),
        "searches": len(conditions),
        "evaluator_accuracy": round(correct.float().mean().item(), 4),
        "per_class": per_class,
    }


def main() -> None:
    """``python -m noisesearch_plugins.digits.evaluation OUT_DIR``: print the run's evaluator figures as JSON."""
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "summary.json").is_file():
        print("usage: python -m noisesearch_plugins.digits.evaluation OUT_DIR (a folder with summary.json)",
              file=sys.stderr)
        sys.exit(2)
    print(json.dumps(evaluate_run(Path(sys.argv[1])), indent=2))


if __name__ == "__main__":
    main()
