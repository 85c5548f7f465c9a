"""What the embedded worlds' judges share: a run folder's header figures, the command that judges a run, and the
plain samples a model card measures."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch


def run_figures(summary, searches: int) -> dict:
    """A finished run's algorithm, budget and NFEs per search, as a judge's report opens."""
    return {"algorithm": summary.header.model.algorithm, "budget_nfe": summary.header.model.budget_nfe,
            "nfe_per_search": summary.cost.nfe_used / searches, "searches": searches}


def judge_run_command(evaluate_run: Callable[[Path], dict], module: str) -> None:
    """``python -m MODULE OUT_DIR``: print the judge's report of a run folder (usage and exit code 2 otherwise)."""
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "summary.json").is_file():
        print(f"usage: python -m {module} OUT_DIR (a folder with summary.json)", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(evaluate_run(Path(sys.argv[1])), indent=2))


def plain_outputs(weights: Path, prompts: list[str], per_prompt: int, seed: int) -> tuple[torch.Tensor, list, dict]:
    """Samples without search at the pipeline's defaults: outputs, their conditions, and their count, NFEs and
    seconds."""
    from noisesearch.api import search

    started = time.perf_counter()
    results = search(prompts=prompts, per_condition=per_prompt, seed=seed, algorithm="none", pipeline=str(weights))
    figures = {"samples": len(results), "nfe_per_sample": results[0].nfe,
               "seconds": round(time.perf_counter() - started, 1)}
    return torch.stack([r.image for r in results]), [r.task.condition for r in results], figures
