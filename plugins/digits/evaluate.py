"""Judge a digits run with the independent evaluator: ``python -m noisesearch_plugins.digits.evaluate OUT_DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from noisesearch.bench import load_images

from .verifier import DigitsEvaluator


def evaluate_run(out: Path) -> dict:
    """Evaluator accuracy overall and per class of a run folder's images, with its NFEs."""
    images, conditions, summary = load_images(Path(out))
    labels = torch.tensor([c.class_label for c in conditions])
    correct = DigitsEvaluator().predict(images) == labels
    per_class = {int(c): round(correct[labels == c].float().mean().item(), 4) for c in labels.unique()}
    return {
        "algorithm": summary["algorithm"],
        "budget_nfe": summary["budget_nfe"],
        "nfe_per_search": summary["nfe_used"] / len(conditions),
        "searches": len(conditions),
        "evaluator_accuracy": round(correct.float().mean().item(), 4),
        "per_class": per_class,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "summary.json").is_file():
        print("usage: python -m noisesearch_plugins.digits.evaluate OUT_DIR (a folder with summary.json)",
              file=sys.stderr)
        sys.exit(2)
    print(json.dumps(evaluate_run(Path(sys.argv[1])), indent=2))
