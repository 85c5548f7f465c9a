"""Algorithms at one NFE budget on `shapes`, driven by shapes-clip and judged by shapes-eval.

    python benchmarks/shapes_algorithms.py --budget 480 --per_prompt 2 --algorithms random zero-order halving smc

Prints one line per algorithm: seconds, NFEs per search and shapes-eval accuracy per category and overall.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from noisesearch.api import search
from noisesearch.bench.metrics import judged_accuracy
from noisesearch_plugins.shapes.captions import prompt_set
from noisesearch_plugins.shapes.evaluation import ShapesEvaluation

ARGS = {"zero-order": {"n": 4}, "evolution": {"population": 4, "elites": 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=480)
    parser.add_argument("--per_prompt", type=int, default=2)
    parser.add_argument("--prompts_per_category", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algorithms", nargs="+", default=["random", "zero-order", "halving", "smc"])
    options = parser.parse_args()
    prompts = [c.text for c in prompt_set(options.prompts_per_category, seed=0)]
    judge = ShapesEvaluation()
    for name in options.algorithms:
        started = time.perf_counter()
        results = search(prompts=prompts, per_condition=options.per_prompt, seed=options.seed, algorithm=name,
                         algorithm_args=ARGS.get(name, {}), budget_nfe=options.budget, pipeline="shapes")
        verdicts = judge.judge(torch.stack([r.image for r in results]), [r.task.condition for r in results])
        accuracy = {key: round(value, 3) for key, value in judged_accuracy(verdicts).items()}
        print(json.dumps({"algorithm": name, "args": ARGS.get(name, {}), "seconds": round(time.perf_counter() - started),
                          "nfe_per_search": sum(r.nfe for r in results) / len(results), **accuracy}), flush=True)


if __name__ == "__main__":
    main()
