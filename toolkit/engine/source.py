"""Where a loop's searches come from: cohorts admitted between rounds. A fixed run is one cohort given up front
(``Fixed``); a long-lived process (a server) adds cohorts while the loop runs and may cancel a search
(``Admissions``). A search's result never depends on what else shares its chunks or when it joined."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from .types import SearchResult, SearchSettings, Task

if TYPE_CHECKING:
    from .journaling import Recorder
    from .scoring import Scorer
    from .state import SearchRun


@dataclass(eq=False)
class Cohort:
    """Searches admitted together: their tasks, their settings (the schedule's must be the loop's: steps, sampler,
    guidance, size), their verifiers, and the journal they are recorded in. ``on_result`` takes each search's result
    as it ends, once every candidate of it is journaled (``results`` collects them either way). None settings,
    scorer or recorder: the loop's own."""

    tasks: Sequence[Task]
    settings: Optional[SearchSettings] = None
    scorer: Optional["Scorer"] = None
    recorder: Optional["Recorder"] = None
    on_result: Optional[Callable[[SearchResult], None]] = None
    searches: list["SearchRun"] = field(default_factory=list)  # filled by the loop when it admits the cohort
    results: list[SearchResult] = field(default_factory=list)  # filled as its searches end
    cancelled: bool = False  # set from any thread: its searches end after the round they are in, unchosen
    admitted: bool = False  # set by the loop once its searches run
    ended: int = 0  # its searches that ended, chosen or cancelled
    dropped: bool = False  # cancelled before the loop took it: it never runs

    @property
    def over(self) -> bool:
        """Every search of it ended (or it was cancelled before it started): read from any thread."""
        return self.dropped or self.admitted and self.ended == len(self.searches)


class SearchSource:
    """Cohorts for a loop, read between rounds."""

    def take(self, idle: bool) -> list[Cohort]:
        """Cohorts to admit now; ``idle`` (nothing else to run) may wait for one. Empty when none comes."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """No cohort will come any more: the loop ends when its searches do."""
        raise NotImplementedError


class Fixed(SearchSource):
    """One cohort, given up front: ``Executor.run(tasks)``."""

    def __init__(self, cohort: Cohort):
        self.cohort: Optional[Cohort] = cohort

    def take(self, idle: bool) -> list[Cohort]:
        cohort, self.cohort = self.cohort, None
        return [cohort] if cohort is not None else []

    @property
    def closed(self) -> bool:
        return self.cohort is None


class Admissions(SearchSource):
    """Cohorts added from other threads while a loop runs (``add``), searches cancelled (``cancel``), and the end
    (``close``: the loop finishes what it holds, then returns)."""

    def __init__(self) -> None:
        self.pending: list[Cohort] = []
        self.ended = False
        self.changed = threading.Condition()

    def add(self, cohort: Cohort) -> Cohort:
        with self.changed:
            if self.ended:
                raise RuntimeError("the loop is closed: it admits no more searches")
            self.pending.append(cohort)
            self.changed.notify_all()
        return cohort

    def cancel(self, cohort: Cohort) -> None:
        """End a cohort's searches after the round they are in, unchosen (a cohort not admitted yet never starts);
        what they journaled stays."""
        with self.changed:
            cohort.cancelled = True
            if cohort in self.pending:
                self.pending.remove(cohort)
                cohort.dropped = True
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def take(self, idle: bool, timeout: float = 0.5) -> list[Cohort]:
        with self.changed:
            if idle and not self.pending and not self.ended:
                self.changed.wait(timeout)
            taken, self.pending = self.pending, []
            return taken

    @property
    def closed(self) -> bool:
        with self.changed:
            return self.ended and not self.pending
