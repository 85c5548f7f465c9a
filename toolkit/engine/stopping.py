"""Stoppers: what may end searches or the whole loop between rounds, registered on the loop (nevergrad's callbacks,
``EarlyStopping.timer``). The loop knows only that a stopper may end searches or raise ``Stopped``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..errors import Stopped
from .state import SearchRun

STOP_CODES = {"SIGTERM": 143, "Ctrl-C": 130}  # what a shell reports for a process the signal ended


class Stopper:
    """Told of each cohort of searches as it joins the loop; asked after every round, when it may end searches
    (their candidates so far stand; each has finished at least one round) or raise ``Stopped``."""

    def admit(self, cohort: Sequence[SearchRun]) -> None:
        """A cohort of searches joined the loop (a fixed run's searches, a server's job)."""

    def check(self, searches: Sequence[SearchRun]) -> None:
        """After a round: mark searches ``done`` to end them, or raise ``Stopped`` to end the loop."""


@dataclass
class Timed:
    """A cohort under a clock: its searches, the seconds they share, when they joined, the warm-up then."""

    searches: list[SearchRun]
    budget: float
    started: float
    warmed: float


class Clock(Stopper):
    """``model.budget_seconds``: the searches of one cohort share its ``budget_seconds`` each of wall clock
    (verifiers, the journal and all; compile warm-up excepted), read after each round, so every search finishes its
    first round. Ranks that share searches (``shard: candidates``) stop together, when any of them has spent it
    (``gather``). Cohorts without the setting are not timed."""

    def __init__(self, warmup: Callable[[], float], gather: Optional[Callable[[Any], list]] = None):
        self.warmup = warmup
        self.gather = gather
        self.cohorts: list[Timed] = []

    def admit(self, cohort: Sequence[SearchRun]) -> None:
        seconds = cohort[0].settings.budget_seconds if cohort else None
        if seconds is not None:
            self.cohorts.append(Timed(list(cohort), seconds * len(cohort), time.perf_counter(), self.warmup()))

    def spent(self, cohort: Timed) -> bool:
        used = time.perf_counter() - cohort.started - (self.warmup() - cohort.warmed)
        return used >= cohort.budget

    def check(self, searches: Sequence[SearchRun]) -> None:
        self.cohorts = [c for c in self.cohorts if not all(search.done for search in c.searches)]
        if not self.cohorts:
            return
        spent = tuple(self.spent(cohort) for cohort in self.cohorts)
        if self.gather is not None:
            spent = tuple(any(flags) for flags in zip(*self.gather(spent)))
        for cohort, over in zip(self.cohorts, spent):
            if over:
                for search in cohort.searches:
                    search.done = True


class SignalStop(Stopper):
    """SIGTERM (``kill``, a scheduler's preemption) or Ctrl-C: ``reason()`` names the signal once one arrived, and
    the loop stops after the round it is in, journaled (exit codes 143 and 130)."""

    def __init__(self, reason: Callable[[], Optional[str]]):
        self.reason = reason

    def check(self, searches: Sequence[SearchRun]) -> None:
        reason = self.reason()
        if reason:
            raise Stopped(f"stopped on {reason} after a round of candidates was journaled", STOP_CODES[reason])


@dataclass
class RoundLimit(Stopper):
    """Ends every search after ``rounds`` rounds, whatever the time: where a wall clock would stop a search, made
    repeatable (the algorithm conformance suite's check of anytime algorithms)."""

    rounds: int
    seen: int = field(default=0, init=False)

    def check(self, searches: Sequence[SearchRun]) -> None:
        self.seen += 1
        if self.seen >= self.rounds:
            for search in searches:
                search.done = True
