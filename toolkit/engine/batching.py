"""``model.batch_size auto``: the chunk size that evaluates the most NFEs per second, measured on the run's own
first chunks (an untimed warm-up, then each trial size once), within what the device's free memory holds."""

from __future__ import annotations

from typing import Optional

SIZES = (4, 8, 16, 32, 64, 128, 256)  # the trial sizes, smallest first (the first is the warm-up)


class AutoBatch:
    """Chooses a chunk size by measuring; the measurements are real work, so nothing is evaluated twice and results
    do not depend on the choice (a batch equals its rows)."""

    def __init__(self, sizes: tuple[int, ...] = SIZES):
        self.trials = list(sizes)
        self.rates: dict[int, float] = {}  # NFEs per second by chunk size
        self.warmed = False
        self.chosen: Optional[int] = None

    @property
    def tuning(self) -> bool:
        return self.chosen is None

    def size(self) -> int:
        """The next chunk's size: the warm-up, a trial, or the chosen size."""
        return self.chosen if self.chosen is not None else self.trials[0]

    def record(self, size: int, nfe: int, seconds: float) -> None:
        """One chunk of ``size`` candidates took ``seconds`` for ``nfe`` NFEs (the first is the untimed warm-up);
        a chunk smaller than its trial (the end of a group) measures nothing."""
        if self.chosen is not None or size != self.trials[0]:
            return
        if not self.warmed:
            self.warmed = True
            return
        self.rates[size] = nfe / max(seconds, 1e-9)
        self.trials.pop(0)
        if not self.trials:
            self.settle()

    def limit(self, rows: int) -> None:
        """Only sizes below ``rows`` fit (out of memory at ``rows``, or the device's free memory holds no more)."""
        self.trials = [size for size in self.trials if size < rows]
        if not self.trials:
            self.settle(fallback=max(1, rows // 2))

    def settle(self, fallback: Optional[int] = None) -> None:
        """Keep the fastest size measured (the larger on a tie), or ``fallback`` when none was."""
        if self.rates:
            self.chosen = max(self.rates, key=lambda size: (self.rates[size], size))
        else:
            self.chosen = fallback or 1

    def report(self) -> dict:
        """What summary.json records: the size chosen and the rates; when the run ended before every trial ran,
        the fastest size measured (``settled`` false; None before any was)."""
        chosen = self.chosen
        if chosen is None and self.rates:
            chosen = max(self.rates, key=lambda size: (self.rates[size], size))
        return {"chosen": chosen, "settled": self.chosen is not None,
                "nfe_per_s": {str(size): round(rate, 2) for size, rate in self.rates.items()}}
