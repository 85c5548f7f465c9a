"""The no-search baseline (``model.baseline``): a search's first noise solved plainly, what ``none`` returns, made
beside an algorithm whose own candidates do not include it (halving, SMC, beam, paths), so every search can say
what search changed. It is never told to the algorithm, never chosen, and its NFEs are counted apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..algorithm import Proposal
from ..store.records import BASELINE

if TYPE_CHECKING:
    from .progress import NfeProgress
    from .state import SearchRun

__all__ = ["BASELINE", "baseline_of", "is_first_draw"]


def is_first_draw(search: "SearchRun", proposal: Proposal) -> bool:
    """Whether a proposal is the search's first noise solved plainly to the end (random search's first candidate; a
    gradient iterate's image is that solve too)."""
    first = search.context.fresh_noise(0).fresh_seed
    return proposal.is_fresh and proposal.stop == 0 and proposal.noise.fresh_seed == first


def baseline_of(search: "SearchRun", proposals: list[Proposal], cost: Callable[["SearchRun", Proposal], int],
                progress: "NfeProgress") -> list[Proposal]:
    """The baseline to evaluate beside a search's first proposals (before they are charged), with ``model.baseline``
    on and when they do not hold its first plain draw; its NFEs are its cost, never the budget's."""
    if not search.settings.baseline or search.asked or any(is_first_draw(search, p) for p in proposals):
        return []
    proposal = Proposal(BASELINE, search.context.fresh_noise(0))
    search.costs[BASELINE] = cost(search, proposal)
    progress.charge_baseline(search.baseline_nfe)
    return [proposal]
