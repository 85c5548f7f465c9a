"""The loaded model's schedule for a run's settings, and the checks a search must pass before any candidate runs.

A function, not a throwaway executor: ``noisesearch predict`` calls it after loading, the executor calls it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ..algorithm import SearchContext
from ..errors import UsageError
from ..pipeline import Pipeline, RunSpec
from ..verifier import Verifier
from . import whole
from .scoring import Scorer, preview_level
from .types import SearchSettings


@dataclass(frozen=True)
class Schedule:
    """What the configured pipeline fixes for every search: noise levels, latent shape and the NFEs of a call."""

    sigmas: torch.Tensor
    shape: tuple[int, ...]
    sample_nfe: int
    nfe_per_call: int


def configure(pipeline: Pipeline, settings: SearchSettings) -> Schedule:
    """Hand the run's steps, guidance, size and sampler to the pipeline once, and read back its schedule."""
    pipeline.configure(RunSpec.of(settings))
    family = pipeline.family
    return Schedule(sigmas=pipeline.sigmas(settings.steps),
                    shape=tuple(pipeline.latent_shape(settings.height, settings.width)),
                    sample_nfe=settings.sample_nfe(family), nfe_per_call=family.nfe_per_call(settings.guidance))


def context(settings: SearchSettings, schedule: Schedule, condition_key: str = "", repeat: int = 0,
            round_size: Optional[int] = None) -> SearchContext:
    """What an algorithm may know about one search (``condition_key`` empty: any search of the run)."""
    return SearchContext(seed=settings.seed, condition_key=condition_key, repeat=repeat, budget_nfe=settings.budget_nfe,
                         sample_nfe=schedule.sample_nfe, sigmas=tuple(float(s) for s in schedule.sigmas),
                         sampler=settings.sampler, nfe_per_call=schedule.nfe_per_call, shape=schedule.shape,
                         round_size=round_size)


def check(pipeline: Pipeline, verifiers: Sequence[Verifier], settings: SearchSettings) -> Schedule:
    """Refuse (UsageError) a search the schedule, the budget, the verifiers or whole-pipeline mode cannot carry."""
    schedule = configure(pipeline, settings)
    check_search(pipeline, schedule, settings, verifiers)
    preview_level(schedule.sigmas, verifiers)
    return schedule


def check_search(pipeline: Pipeline, schedule: Schedule, settings: SearchSettings,
                 verifiers: Sequence[Verifier]) -> None:
    """The checks of one search's algorithm, budget and verifiers against a configured schedule."""
    settings.algorithm.check_context(settings.params, context(settings, schedule))
    run = RunSpec.of(settings)
    for verifier in verifiers:
        verifier.check_run(run, schedule.sigmas)
    if settings.algorithm.uses_gradients:
        Scorer(verifiers, settings.ensemble, settings.weights).require_differentiable(settings.algorithm.name)
    if whole.runs_whole(pipeline.family):
        whole.check_search(pipeline.family, settings.algorithm, verifiers)


SCHEDULE = ("steps", "sampler", "guidance", "height", "width")  # what every search sharing a loop must agree on


def admit_check(pipeline: Pipeline, schedule: Schedule, loop: SearchSettings, settings: SearchSettings,
                scorer: Scorer, preview: Optional[float], gradients: bool) -> None:
    """Refuse a cohort a running loop cannot take: another schedule, another preview level, gradients where the
    loop evaluates none, or what ``check_search`` refuses."""
    differ = [name for name in SCHEDULE if getattr(settings, name) != getattr(loop, name)]
    if differ:
        raise UsageError(f"this loop runs {', '.join(f'{name} {getattr(loop, name)!r}' for name in differ)}; a "
                         "search that joins it must use the same (start another loop for other settings)")
    if settings.algorithm.uses_gradients and not gradients:
        raise UsageError(f"algorithm {settings.algorithm.name!r} needs gradients, which this loop does not evaluate; "
                         "start a loop whose default algorithm uses them")
    check_search(pipeline, schedule, settings, scorer.verifiers)
    wanted = preview_level(schedule.sigmas, scorer.verifiers)
    if wanted is not None and wanted != preview:
        raise UsageError("the verifiers ask for x0-previews at a level this loop does not make; start a loop whose "
                         "default verifiers ask for the same")
