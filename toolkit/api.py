"""Searching from Python without the CLI: the same settings, session, executor and plugins as ``noisesearch
predict``, with no Lightning. With ``out`` it writes a run folder that ``show``, ``report`` and ``resume`` read."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from .conditions import Condition
from .engine import SearchResult, Task
from .run.console import Console
from .run.models import Models
from .run.session import RunSession
from .run.settings import RunSettings, build

DEFAULT_PIPELINES = {"class": "digits", "prompt": "shapes"}  # the embedded worlds, by kind of condition


def search(
    classes: Optional[Sequence[int]] = None,
    prompts: Optional[Sequence[str]] = None,
    *,
    per_condition: int = 1,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    module: Any = None,
    out: Union[str, Path, None] = None,
    resume: bool = False,
    overwrite: bool = False,
    **settings: Any,
) -> list[SearchResult]:
    """Run one search per condition (and repeat); ``settings`` are ``noisesearch predict``'s ``model`` arguments.

    Each result has ``.pil`` (a PIL image), ``.score``, ``.scores``, ``.noise`` (the initial noise), ``.nfe`` and
    ``.candidates``. Pass a ``module`` (a ``SearchModule``) to reuse loaded models across calls.

    >>> results = search(classes=[3, 7], algorithm="random", budget_nfe=176)

    With ``out=DIR`` the run is journaled in DIR as ``noisesearch predict --out DIR`` would (config.yaml, run.json,
    images, noises, summary.json, grid.png, report.html); ``resume=True`` continues an interrupted one there, and
    returns every search's result (journaled candidates are replayed, not evaluated again).

    The pipeline defaults to ``digits`` for classes and ``shapes`` for prompts. ``pipeline`` may also be an already
    loaded diffusers pipeline object:

    >>> results = search(prompts=["a red fox"], pipeline=pipe, verifiers=["clip"], budget_nfe=16 * 28)
    """
    if (classes is None) == (prompts is None):
        raise ValueError("give exactly one of classes or prompts")
    if module is None and "pipeline" not in settings:
        settings["pipeline"] = DEFAULT_PIPELINES["class" if classes is not None else "prompt"]
    run_settings = module.run_settings if module is not None else build(**settings)
    models = module.models if module is not None else Models(run_settings)
    conditions = [Condition(class_label=c) for c in classes] if classes is not None else [
        Condition(prompt=p) for p in prompts
    ]
    tasks = [Task(i * per_condition + r, c, r) for i, c in enumerate(conditions) for r in range(per_condition)]
    run_settings.check_tasks(tasks)
    session = RunSession(run_settings, out, seed=seed, resume=resume, overwrite=overwrite, console=Console(quiet=True))
    session.check_folder()
    models.prepare(torch.device(device))
    models.to(device)
    session.open(config_text(run_settings, classes, prompts, per_condition, seed, out) if out is not None else None)
    session.begin(models)
    results = session.run(tasks, skip_finished=False)
    session.finish()
    return results


def config_text(run_settings: RunSettings, classes, prompts, per_condition: int, seed: int, out) -> str:
    """The ``noisesearch predict`` config of a run started from Python, so ``noisesearch resume DIR`` continues it."""
    import yaml

    model = run_settings.arguments()
    data = {"classes": ",".join(str(c) for c in classes)} if classes is not None else {"prompts": list(prompts)}
    return yaml.safe_dump({"seed_everything": seed, "model": model, "data": {**data, "per_condition": per_condition},
                           "out": str(out)}, sort_keys=False)
