"""Progress of a run in NFEs done, advanced after every chunk of candidates and every denoiser call inside one: a
bar on a terminal, a plain line at least every few seconds elsewhere (CI logs, nohup; a heartbeat prints one even
while a single network call runs), with candidates evaluated per second and an ETA from the NFE rate."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional, TextIO


@dataclass(frozen=True)
class RoundReport:
    """Where a run stands: NFEs done (of evaluated candidates, replayed ones included, and inside the chunk
    running now), searches finished, candidates and NFEs evaluated in this process, and the seconds since this part
    of the run began."""

    done: int
    finished: int
    candidates: int
    computed: int
    seconds: float
    best: Optional[float] = None  # the mean over running searches of their best finished score (first verifier)
    extra: int = 0  # NFEs of work beyond the searches' budgets (the no-search baselines)


class Progress:
    """Reports ``RoundReport``s against the run's total budget (searches x ``budget_nfe``)."""

    def __init__(self, searches: int, budget_nfe: int, label: str = "searches", stream: Optional[TextIO] = None,
                 interval: float = 10.0):
        self.searches, self.total = searches, searches * budget_nfe
        self.label, self.stream, self.interval = label, stream or sys.stderr, interval
        self.bar = None
        self.printed_at = time.monotonic()  # the first line after one interval: short runs print one line
        self.completed = False
        self.last: Optional[RoundReport] = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.heart: Optional[threading.Thread] = None
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=label, unit="NFE", file=self.stream, dynamic_ncols=True,
                            leave=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} NFEs [{elapsed}<{remaining}{postfix}]")

    def describe(self, report: RoundReport) -> str:
        rate = report.candidates / report.seconds if report.seconds > 0 else 0.0
        return f"{self.label} {report.finished}/{self.searches}, {rate:.1f} candidates/s"

    def eta(self, report: RoundReport) -> str:
        """Seconds left from the rate this process evaluates NFEs (replayed ones cost nothing and are not counted)."""
        if report.finished >= self.searches:
            return f"done in {report.seconds:.0f} s"
        left = self.total + report.extra - report.done
        if report.computed <= 0 or report.seconds <= 0:
            return "time left unknown yet"
        return f"about {left * report.seconds / report.computed:.0f} s left"

    def round(self, report: RoundReport) -> None:
        with self.lock:
            self.last = report
            if self.bar is not None:
                self.bar.total = self.total + report.extra
                self.bar.update(max(0, min(report.done, self.bar.total) - self.bar.n))
                self.bar.set_postfix_str(self.describe(report), refresh=False)
                return
            self._beat()
            now = time.monotonic()
            finishing = report.finished >= self.searches and not self.completed
            if now - self.printed_at >= self.interval or finishing:
                self.completed = report.finished >= self.searches
                self.line(report)

    def _beat(self) -> None:
        """Start the heartbeat with the first report: a line every ``interval`` even when nothing moves."""
        if self.heart is None and self.interval > 0:
            self.heart = threading.Thread(target=self._heartbeat, name="noisesearch-progress", daemon=True)
            self.heart.start()

    def _heartbeat(self) -> None:
        while not self.stopped.wait(self.interval / 2):
            with self.lock:
                quiet = time.monotonic() - self.printed_at
                if self.last is not None and not self.completed and quiet >= self.interval:
                    self.line(self.last, f", still working ({quiet:.0f} s since the last line)")

    def line(self, report: RoundReport, note: str = "") -> None:
        total = self.total + report.extra
        share = report.done / total if total else 1.0
        self.printed_at = time.monotonic()
        print(f"noisesearch: {report.done}/{total} NFEs ({share:.0%}), {self.describe(report)}, "
              f"{self.eta(report)}{note}", file=self.stream, flush=True)

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            if self.bar is not None:
                self.bar.close()
            elif self.last is not None and not self.completed:
                self.line(self.last)
