"""Where a loop stands, as one record of monotone counters (Lightning's progress trackers): observers (progress
bars, loggers, a server's job pages) read it, never the loop's own fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

from .state import SearchRun


@dataclass
class NfeProgress:
    """A loop's work so far, every counter only ever rising: NFEs charged to proposals (before they run), NFEs of
    proposals evaluated (computed here, replayed from the journal or gathered from other ranks), NFEs of proposals
    integrated and told to their algorithm; searches admitted and finished; candidates computed by this process."""

    charged: int = 0
    evaluated: int = 0
    integrated: int = 0
    admitted: int = 0
    finished: int = 0
    computed: int = 0
    running: int = 0  # NFEs the denoiser has made inside the chunk evaluating now (not yet in ``evaluated``)
    baseline: int = 0  # NFEs charged to no-search baselines (``model.baseline``), beyond the searches' budgets

    @property
    def done(self) -> int:
        """NFEs of work done: evaluated proposals and what the running chunk has made of its own."""
        return self.evaluated + self.running

    @property
    def in_flight(self) -> int:
        """NFEs charged and not evaluated yet (the round's work still to do)."""
        return self.charged - self.evaluated

    def snapshot(self) -> "NfeProgress":
        return dataclasses.replace(self)

    def chunk_started(self) -> None:
        self.running = 0

    def chunk_moved(self, made: int, cost: int) -> None:
        """The running chunk's denoiser has made ``made`` NFEs of its ``cost`` (kept, never lowered, across a retry
        after running out of memory)."""
        self.running = max(self.running, min(made, cost))

    def charge_baseline(self, cost: int) -> None:
        """A no-search baseline charged: work beyond the searches' budgets."""
        self.charged += cost
        self.baseline += cost

    def chunk_evaluated(self, cost: int, candidates: int) -> None:
        self.evaluated += cost
        self.computed += candidates
        self.running = 0


Observer = Callable[[NfeProgress, Sequence[SearchRun]], None]  # after every chunk and round: the record, the searches
Ticker = Callable[[NfeProgress], None]  # after every denoiser call inside a chunk: the record alone (cheap)
