"""Selection: what each candidate is told and which finished sample a search returns, one rule for every algorithm.

Candidates are compared by the ensemble's aggregate among those at the same level; ties go to the lower id, never
to evaluation order, so replayed and fresh evaluations give the same result (Ma et al. 2025: best-of-N).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

from ..algorithm import Outcome, Proposal
from ..ensemble import oriented
from .baseline import BASELINE
from .state import Evaluated, SearchRun
from .types import SearchResult

Aggregate = Callable[[list[dict[str, float]]], list[float]]


def outcome(search: SearchRun, proposal: Proposal, evaluation: Evaluated) -> Outcome:
    """What an algorithm is told of one evaluation: its aggregate among every candidate at its level so far (the
    level's aggregates cached on the search until the level grows)."""
    history = search.levels[proposal.stop]
    key = (proposal.stop, len(history))
    if search.told is None or search.told[0] != key:
        search.told = key, dict(zip([i for i, _ in history], search.scorer.aggregate([row for _, row in history])))
    return Outcome(proposal.id, search.told[1][proposal.id], evaluation.scores, evaluation.nfe, proposal.stop,
                   evaluation.gradient)


def choose(search: SearchRun, aggregate: Aggregate, algorithm: str) -> SearchResult:
    """The search's result: its best finished candidate by the aggregate score (lower id on ties)."""
    finals = search.levels.get(0.0, [])
    if not finals:
        raise RuntimeError(f"algorithm {algorithm!r} ended a search without a finished sample")
    aggregates = aggregate([row for _, row in finals])
    best = pick(finals, aggregates, guarded(search, finals))
    candidate = finals[best][0]
    finished = search.finished[candidate]
    if finished.image is None:
        raise RuntimeError(f"the journal kept no image of candidate {candidate}, the best of search "
                           f"{search.task.condition.key!r}: a bug in keep_images")
    search.states.clear()
    plain = [i for i, _ in finals if search.finished[i].noise_seed is not None]
    first = min(plain) if plain else (BASELINE if search.baseline is not None else None)
    first_scores = search.raw[first] if plain else search.baseline_scores
    return SearchResult(
        task=search.task,
        candidate=candidate,
        image=finished.image,
        noise=finished.root,
        score=aggregates[best],
        scores=search.raw[candidate],
        nfe=search.nfe,
        candidates=len(search.raw),
        replayable=finished.replayable,
        noise_seed=finished.noise_seed,
        first_candidate=first,
        first_scores=first_scores,
        ties=sum(value == aggregates[best] for value in aggregates) - 1,
        trace=search.algorithm.trace(),
        baseline_nfe=search.baseline_nfe,
    )


def pick(finals: list[tuple[int, dict[str, float]]], aggregates: list[float],
         eligible: Optional[list[int]] = None) -> int:
    """The place in ``finals`` of the best aggregate (the lower id on ties), among ``eligible`` places if given."""
    places = range(len(finals)) if eligible is None else eligible
    return max(places, key=lambda i: (aggregates[i], -finals[i][0]))


def guarded(search: SearchRun, finals: list[tuple[int, dict[str, float]]]) -> Optional[list[int]]:
    """With ``model.guard``: the places in ``finals`` the guard ranks in its top ``guard_keep`` (at least one; the
    lower id on ties), the ones the final choice is made among; None without a guard."""
    guard = search.scorer.guard
    if guard is None:
        return None
    values = [oriented(search.raw[i].get(guard.name, math.nan), guard.higher_is_better) for i, _ in finals]
    keep = max(1, math.ceil(search.cohort.settings.guard_keep * len(finals) - 1e-9))
    order = sorted(range(len(finals)), key=lambda i: (-values[i], finals[i][0]))
    return sorted(order[:keep])


def best_so_far(search: SearchRun) -> Optional[tuple[int, float]]:
    """The finished candidate the search would return if it ended now, and its aggregate (None before any)."""
    finals = search.levels.get(0.0, [])
    if not finals:
        return None
    aggregates = search.scorer.aggregate([row for _, row in finals])
    best = pick(finals, aggregates, guarded(search, finals))
    return finals[best][0], aggregates[best]
