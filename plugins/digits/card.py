"""Measures the digits world's model card figures: held-out accuracies and the evaluator's verdict on samples.

``python -m noisesearch_plugins.digits.card --weights plugins/digits/weights [--per_class 50]``
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from noisesearch.api import search

from .data import NUM_CLASSES
from .evaluation import DigitsEvaluator
from .pipeline import DigitsFamily


def evaluator_accuracy(results) -> float:
    """Fraction of results the independent evaluator reads as their class."""
    evaluator = DigitsEvaluator()
    images = torch.stack([r.image for r in results])
    labels = torch.tensor([r.task.condition.class_label for r in results])
    return evaluator.accuracy(images, labels)


def measure(weights: Path, per_class: int = 50, seed: int = 0) -> dict:
    """Evaluator accuracy of plain samples (no search) and of random search at 16 samples' NFEs, defaults."""
    classes = list(range(NUM_CLASSES))
    figures = {}
    for algorithm in ("none", "random"):
        started = time.perf_counter()
        results = search(classes=classes, per_condition=per_class, seed=seed, algorithm=algorithm,
                         pipeline=str(weights))
        figures[algorithm] = {
            "evaluator_accuracy": round(evaluator_accuracy(results), 4),
            "nfe_per_search": results[0].nfe,
            "searches": len(results),
            "seconds": round(time.perf_counter() - started, 1),
        }
    return figures


def main(weights: Path = Path("plugins/digits/weights"), per_class: int = 50, seed: int = 0) -> None:
    """Measure and write ``model_card.json`` beside the weights."""
    training = json.loads((Path(weights) / "training.json").read_text())
    samples = measure(Path(weights), per_class, seed)
    card = {
        "defaults": {"steps": DigitsFamily.default_steps, "sampler": DigitsFamily.default_sampler,
                     "guidance": DigitsFamily.default_guidance},
        "samples_per_class": per_class,
        "seed": seed,
        "training": training,
        "samples": samples,
    }
    (Path(weights) / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    from jsonargparse import CLI

    CLI(main, as_positional=False)
