"""A scaling study: a grid of algorithms x verifier sets x budgets, plus the baseline that scales denoising steps."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from jsonargparse.typing import PositiveFloat, PositiveInt

from ..errors import UsageError


@dataclass
class AlgorithmSpec:
    """One algorithm of the grid with its hyperparameters, driven by the study's verifier sets or by its own
    ``verifiers`` (comparing verifiers on one algorithm without running every algorithm with every set), at the
    study's budgets or at its own ``budgets`` (a reference measured at more budgets than the rest)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    verifiers: Optional[list[list[str]]] = None
    budgets: Optional[list[PositiveInt]] = None
    budgets_seconds: Optional[list[PositiveFloat]] = None


@dataclass
class Study:
    """What `noisesearch bench` runs; every cell is a `noisesearch predict` with these settings.

    Args:
        pipeline: the pipeline of every cell.
        classes: class labels (class-conditional pipelines).
        prompts_file: prompts, one per line (text-conditional pipelines).
        per_condition: independent searches per condition in each cell.
        seed: run seed of every cell.
        steps: denoising steps of searched samples.
        algorithms: the searches to compare.
        verifiers: verifier sets; each drives the searches of its own cells (several names form an ensemble).
        budgets: NFE budgets per search.
        budgets_seconds: wall-clock budgets per search (``model.budget_seconds``): cells of anytime algorithms,
            compared with random search at the nearest seconds per search as the NFE cells are at the nearest NFEs
            (algorithms a clock cannot stop are marked infeasible there).
        steps_baseline: denoising steps of the no-search baseline that scales steps instead of searching.
        score_verifiers: verifiers that score every cell's outputs (default: every verifier of the study).
        clip_model: a transformers CLIP model (hub id or local folder) for CLIPScore of text-conditional cells.
        evaluator: a verifier spec that also judges (``geneval:...``): its verdicts replace the pipeline's own
            evaluator's accuracy per category; it never drives search.
        batch_size: candidates per forward pass.
        trainer: Lightning Trainer options for every cell (devices, strategy, accelerator, ...).
        model: further ``model`` settings of every cell (``height``, ``width``, ``frames``, ``guidance``,
            ``clip_frames``...), as ``noisesearch predict`` takes them.
        interleave: blocks of conditions: with K > 1 every cell runs the first K-th of the conditions, then every
            cell the next (each block a resumed part of the cell's run), and so on, so that the machine's drift falls
            on every cell alike; the searches, candidates and choices are the same as in one block.
    """

    pipeline: str = "digits"
    classes: Optional[str] = None
    prompts_file: Optional[str] = None
    per_condition: PositiveInt = 10
    seed: int = 0
    steps: Optional[PositiveInt] = None
    algorithms: list[AlgorithmSpec] = field(default_factory=lambda: [AlgorithmSpec("random")])
    verifiers: list[list[str]] = field(default_factory=lambda: [["digits-classifier"]])
    budgets: list[PositiveInt] = field(default_factory=lambda: [28, 112])
    budgets_seconds: list[PositiveFloat] = field(default_factory=list)
    steps_baseline: list[PositiveInt] = field(default_factory=list)
    score_verifiers: Optional[list[str]] = None
    clip_model: Optional[str] = None
    evaluator: Optional[str] = None
    batch_size: PositiveInt = 64
    trainer: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    interleave: PositiveInt = 1


@dataclass(frozen=True)
class Cell:
    """One run of the study."""

    name: str
    algorithm: str
    args: tuple
    verifiers: tuple[str, ...]
    budget: Optional[int]
    steps: Optional[int]
    baseline: bool = False
    seconds: Optional[float] = None  # a cell set in seconds (``budget`` None)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


NAME_LIMIT = 120  # a cell's name is a folder and a file name: well under the usual 255-byte limit


def _bounded(stem: str) -> str:
    """``stem`` as it is when short; else its start and a hash of the whole (verifier specs can hold long paths)."""
    if len(stem) <= NAME_LIMIT:
        return stem
    digest = hashlib.blake2b(stem.encode(), digest_size=6).hexdigest()
    return f"{stem[:NAME_LIMIT - len(digest) - 1].rstrip('-')}-{digest}"


def cells(study: Study) -> list[Cell]:
    """Every cell of the grid, the steps baseline last."""
    if not study.algorithms or not study.verifiers:
        raise UsageError("a study needs at least one algorithm and one verifier set")
    grid, named = [], set()
    for algorithm in study.algorithms:
        args = tuple(sorted(algorithm.args.items()))
        tag = _slug(f"{algorithm.name}-{'-'.join(f'{k}{v}' for k, v in args)}")
        for verifiers in algorithm.verifiers or study.verifiers:
            stem = _bounded(f"{tag}--{_slug('+'.join(verifiers))}")
            budgets = [(f"{budget}nfe", budget, None) for budget in algorithm.budgets or study.budgets]
            budgets += [(f"{seconds:g}s".replace(".", "p"), None, float(seconds))
                        for seconds in algorithm.budgets_seconds or study.budgets_seconds]
            for suffix, budget, seconds in budgets:
                name = f"{stem}--{suffix}"
                if name not in named:  # an algorithm listed again with more verifier sets adds only new cells
                    named.add(name)
                    grid.append(Cell(name, algorithm.name, args, tuple(verifiers), budget, study.steps,
                                     seconds=seconds))
    for steps in study.steps_baseline:
        grid.append(Cell(f"steps--{steps}", "none", (), tuple(study.verifiers[0]), None, steps, baseline=True))
    return grid


def predict_config(study: Study, cell: Cell) -> dict:
    """The `noisesearch predict` config of a cell (without ``out``), as LightningCLI takes a structured config."""
    model = {**study.model, "pipeline": study.pipeline, "algorithm": cell.algorithm,
             "algorithm_args": dict(cell.args), "verifiers": list(cell.verifiers), "batch_size": study.batch_size,
             "baseline": False}  # no extra solves: a cell's seconds are its search's
    if cell.budget is not None:
        model["budget_nfe"] = cell.budget
    if cell.seconds is not None:
        model["budget_seconds"] = cell.seconds
    if cell.steps is not None:
        model["steps"] = cell.steps
    data = {"per_condition": study.per_condition}
    if study.classes is not None:
        data["classes"] = study.classes
    if study.prompts_file is not None:
        data["prompts_file"] = study.prompts_file
    return {"seed_everything": study.seed, "model": model, "data": data, "trainer": dict(study.trainer)}
