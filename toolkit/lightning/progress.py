"""What a run prints: one progress bar (searches, NFEs, candidates/s, ETA), or JSON lines for scripts, or nothing.

Lightning's own bars and notices are left out (``predict`` quiets its loggers); errors and warnings still show.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Literal

from lightning.pytorch.callbacks import Callback

LogFormat = Literal["text", "json"]


class Console:
    """Where a run's messages go: ``text`` (a bar on stderr, the table on stdout), ``json`` (one event per line
    on stdout) or ``quiet`` (nothing but errors and warnings)."""

    def __init__(self, log_format: LogFormat = "text", quiet: bool = False):
        self.log_format = log_format
        self.quiet = quiet

    @property
    def shows_text(self) -> bool:
        return self.log_format == "text" and not self.quiet

    def text(self, line: str) -> None:
        if self.shows_text:
            print(line, flush=True)

    def event(self, name: str, **fields: Any) -> None:
        if self.log_format == "json" and not self.quiet:
            print(json.dumps({"event": name, **fields}, sort_keys=True), flush=True)


class SearchProgress(Callback):
    """One bar on rank 0 over its searches, with NFEs spent and candidates evaluated per second as its postfix."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = None
        self.started = 0.0

    def on_predict_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.console.text(pl_module.headline(trainer.world_size))
            self.console.event("start", **pl_module.describe(), world_size=trainer.world_size)
        self.started = time.perf_counter()

    def _open(self, trainer) -> None:
        from tqdm.auto import tqdm

        loader = trainer.predict_dataloaders
        total = len(loader.sampler) if loader is not None and hasattr(loader, "sampler") else None
        label = "searches" if trainer.world_size == 1 else f"searches (rank 0 of {trainer.world_size})"
        self.bar = tqdm(total=total, desc=label, unit="search", file=sys.stderr, dynamic_ncols=True, leave=True)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.bar is None and trainer.is_global_zero and self.console.shows_text:
            self._open(trainer)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.bar is None:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix_str(f"NFEs {pl_module.nfe_used}, {pl_module.candidates_evaluated / elapsed:.1f} "
                                 "candidates/s", refresh=False)
        self.bar.update(len(batch))

    def on_predict_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
