"""Each algorithm at matched NFE budgets on `digits`, judged by the independent evaluator.

    python benchmarks/algorithms.py --budgets 28 56 112 --per_class 10

Prints a markdown table: evaluator accuracy (and the verifier's mean score) per algorithm and budget.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from noisesearch.api import search
from noisesearch.errors import UsageError
from noisesearch.lightning.module import SearchModule
from noisesearch_plugins.digits.evaluation import DigitsEvaluator

DEFAULT_ARGS = {
    "none": {},
    "random": {},
    "zero-order": {"n": 2},
    "paths": {"n": 2, "m": 2},
    "smc": {},
    "beam": {"width": 2, "branch": 2},
    "evolution": {"population": 4, "elites": 1},
    "halving": {},
    "gradient": {},
}


def cell(algorithm: str, args: dict, budget: int, per_class: int, seed: int, evaluator, steps=None) -> dict:
    """One algorithm at one budget over every digit class."""
    try:
        module = SearchModule(algorithm=algorithm, algorithm_args=args, budget_nfe=budget, batch_size=256,
                              steps=steps)
        started = time.perf_counter()
        results = search(classes=list(range(10)), per_condition=per_class, seed=seed, module=module)
    except UsageError as error:
        return {"error": str(error)}
    images = torch.stack([r.image for r in results])
    labels = torch.tensor([r.task.condition.class_label for r in results])
    return {
        "accuracy": evaluator.accuracy(images, labels),
        "verifier": sum(r.scores["digits-classifier"] for r in results) / len(results),
        "nfe": sum(r.nfe for r in results) / len(results),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=[28, 56, 112])
    parser.add_argument("--per_class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    parser.add_argument("--algorithms", nargs="+", default=list(DEFAULT_ARGS))
    parser.add_argument("--args", type=json.loads, default={}, help='JSON: {"halving": {"rungs": [2]}}')
    parser.add_argument("--json", help="also write every cell to this JSON file")
    options = parser.parse_args()
    evaluator = DigitsEvaluator()
    rows = {}
    print(f"| algorithm | {' | '.join(f'{b} NFEs' for b in options.budgets)} |")
    print(f"|---|{'---|' * len(options.budgets)}")
    for name in options.algorithms:
        args = options.args.get(name, DEFAULT_ARGS.get(name, {}))
        cells = [cell(name, args, b, options.per_class, options.seed, evaluator, options.steps)
                 for b in options.budgets]
        rows[name] = {"args": args, "cells": dict(zip(options.budgets, cells))}
        shown = [f"{c['accuracy']:.3f} ({c['nfe']:.0f})" if "accuracy" in c else "-" for c in cells]
        print(f"| {name} {json.dumps(args) if args else ''} | {' | '.join(shown)} |", flush=True)
    if options.json:
        with open(options.json, "w") as file:
            json.dump(rows, file, indent=2)


if __name__ == "__main__":
    main()
