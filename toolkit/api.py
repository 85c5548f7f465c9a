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
from .run.progress import Progress
from .run.session import RunSession
from .run.settings import RunSettings, build
from .store.run_records import Cost, Summary

DEFAULT_PIPELINES = {"class": "digits", "prompt": "shapes"}  # the embedded worlds, by kind of condition


class Run(Sequence[SearchResult]):
    """What ``noisesearch.search`` returns: each search's result in order (it is a list of them), the run's
    ``summary`` (its settings, ``cost`` and one record per search) and the ``folder`` it lives in (None: memory)."""

    def __init__(self, results: list[SearchResult], summary: Summary, folder: Optional[Path]):
        self.results, self.summary, self.folder = results, summary, folder

    @property
    def cost(self) -> Cost:
        """NFEs, seconds in all, in the denoiser and in each verifier."""
        return self.summary.cost

    def __getitem__(self, index):
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"Run({len(self.results)} searches, nfe_used {self.cost.nfe_used}, {self.cost.elapsed_s} s)"


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
    progress: bool = False,
    **settings: Any,
) -> Run:
    """Run one search per condition (and repeat); ``settings`` are ``noisesearch predict``'s ``model`` arguments
    (``noisesearch.model_args.ModelArgs``).

    Returns a ``Run``: a list of results, each with ``.pil`` (a PIL image), ``.score``, ``.scores``, ``.noise`` (the
    initial noise), ``.nfe`` and ``.candidates``, and the run's ``.summary`` and ``.cost``. Pass a ``module`` (a
    ``SearchModule``) to reuse loaded models across calls; ``progress=True`` prints progress lines on stderr.

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
    if progress:
        session.watch(Progress(len(tasks), run_settings.search.share_nfe or run_settings.search.budget_nfe).round)
    text = config_text(run_settings, classes, prompts, per_condition, seed, out) if out is not None else None
    results, summary = session.search(models, tasks, device, text)
    return Run(results, summary, Path(out) if out is not None else None)


def config_text(run_settings: RunSettings, classes, prompts, per_condition: int, seed: int, out) -> str:
    """The ``noisesearch predict`` config of a run started from Python, so ``noisesearch resume DIR`` continues it."""
    import yaml

    model = run_settings.arguments()
    data = {"classes": ",".join(str(c) for c in classes)} if classes is not None else {"prompts": list(prompts)}
    return yaml.safe_dump({"seed_everything": seed, "model": model, "data": {**data, "per_condition": per_condition},
                           "out": str(out)}, sort_keys=False)
