"""Searching from Python without the CLI: the same module, executor and plugins as ``noisesearch predict``."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from .conditions import Condition
from .engine import SearchResult, Task
from .lightning.module import SearchModule


def search(
    classes: Optional[Sequence[int]] = None,
    prompts: Optional[Sequence[str]] = None,
    *,
    per_condition: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    module: Optional[SearchModule] = None,
    **settings: Any,
) -> list[SearchResult]:
    """Run one search per condition (and repeat); ``settings`` are SearchModule's arguments.

    Each result has ``.pil`` (a PIL image), ``.score``, ``.scores``, ``.noise`` (the initial noise), ``.nfe`` and
    ``.candidates``. Pass a ``module`` to reuse loaded models across calls.

    >>> results = search(classes=[3, 7], algorithm="random", budget_nfe=176)

    The pipeline defaults to ``digits`` for classes and ``shapes`` for prompts. ``pipeline`` may also be an already
    loaded diffusers pipeline object:

    >>> results = search(prompts=["a red fox"], pipeline=pipe, verifiers=["clip"], budget_nfe=16 * 28)
    """
    if (classes is None) == (prompts is None):
        raise ValueError("give exactly one of classes or prompts")
    if module is None and "pipeline" not in settings:
        settings["pipeline"] = "digits" if classes is not None else "shapes"
    module = module or SearchModule(**settings)
    conditions = [Condition(class_label=c) for c in classes] if classes is not None else [
        Condition(prompt=p) for p in prompts
    ]
    tasks = [Task(i * per_condition + r, c, r) for i, c in enumerate(conditions) for r in range(per_condition)]
    module.check_tasks(tasks)
    module.prepare(torch.device(device))
    module.to(device)
    module.seed = seed
    module.start()
    return module.run(tasks)
