"""Stoppers: what may end searches or the whole loop between rounds, registered on the loop (nevergrad's callbacks,
``EarlyStopping.timer``). The loop knows only that a stopper may end searches or raise ``Stopped``."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..errors import Stopped
from .state import SearchRun

STOP_CODES = {"SIGTERM": 143, "Ctrl-C": 130}  # what a shell reports for a process the signal ended


def round_size_of(settings: Any, searches: int) -> Optional[int]:
    """Candidates a search asks a round where a stopper needs small rounds (None: as the algorithm likes): under a
    clock, a batch's worth over the cohort's searches, so the clock is read often enough; under a run-wide budget,
    one, so that every allowance is met exactly whatever the batch size."""
    if settings.share_nfe is not None:
        return 1
    if settings.budget_seconds is not None:
        return max(1, math.ceil((settings.batch_size or 8) / searches))
    return None


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


@dataclass
class Shares:
    """A cohort under a run-wide budget (``model.budget_scope run``): its searches, what each may spend now, the
    phase it is in, and each search's best score when the phase began."""

    searches: list[SearchRun]
    total: int
    allowed: dict[int, int]
    phase: int = 0
    marks: dict[int, float] = field(default_factory=dict)


class RunBudget(Stopper):
    """``model.budget_scope run``: a cohort's searches share ``share_nfe`` each. Every search spends half a share;
    then the half whose best score climbed most over its second half of those candidates gets half the rest, and the
    half of those that climbed most in that phase gets the other half (at most ``budget_nfe``, two shares, each).
    A search whose allowance is spent ends; the decisions read only the journaled scores, so a resumed run makes the
    same ones. Climbing is read on the first driving verifier's score (ties: the earlier search)."""

    def __init__(self):
        self.cohorts: list[Shares] = []

    def admit(self, cohort: Sequence[SearchRun]) -> None:
        settings = cohort[0].settings if cohort else None
        if settings is None or settings.share_nfe is None:
            return
        sample = cohort[0].context.sample_nfe
        first = max(sample, settings.share_nfe // 2 // sample * sample)
        self.cohorts.append(Shares(list(cohort), settings.share_nfe * len(cohort), {id(s): first for s in cohort}))

    def check(self, searches: Sequence[SearchRun]) -> None:
        for shares in self.cohorts:
            running = [s for s in shares.searches if not s.done]
            if running and all(s.nfe >= shares.allowed[id(s)] for s in running):
                self._next_phase(shares, running)
            for search in running:
                search.done = search.done or search.nfe >= shares.allowed[id(search)]
        self.cohorts = [c for c in self.cohorts if not all(search.done for search in c.searches)]

    def _next_phase(self, shares: Shares, running: list[SearchRun]) -> None:
        """Give the climbing half of the running searches their part of what is left (none after the last phase)."""
        if shares.phase >= 2:
            return
        sample = running[0].context.sample_nfe
        climbs = {id(s): climb(s, shares.marks.get(id(s))) for s in running}
        order = sorted(range(len(running)), key=lambda i: (-climbs[id(running[i])], i))
        winners = [running[i] for i in order[:max(1, math.ceil(len(running) / 2))]]
        left = shares.total - sum(s.nfe for s in shares.searches)
        part = left // 2 if shares.phase == 0 else left
        extra = part // len(winners) // sample * sample
        for search in winners:
            shares.allowed[id(search)] = min(search.nfe + extra, search.settings.budget_nfe)
            shares.marks[id(search)] = best_score(search)
        shares.phase += 1


def climb(search: SearchRun, mark: Optional[float]) -> float:
    """How much the search's best score rose since ``mark`` (its best when the phase began; before any phase, its
    best over the first half of its finished candidates); -inf where nothing is finite to compare."""
    if mark is None:
        mark = best_score(search, len(search.levels.get(0.0, [])) // 2)
    rise = best_score(search) - mark
    return rise if math.isfinite(rise) else -math.inf


def best_score(search: SearchRun, first: Optional[int] = None) -> float:
    """The best oriented score of the first driving verifier over the search's finished candidates (its first
    ``first`` of them, in id order, when given); NaN before any."""
    name = search.scorer.verifiers[0].name
    finals = sorted(search.levels.get(0.0, []))
    if first is not None:
        finals = finals[:first]
    values = [row[name] for _, row in finals if math.isfinite(row[name])]
    return max(values) if values else math.nan
