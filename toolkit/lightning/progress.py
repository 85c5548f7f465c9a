"""What a run prints: one progress bar (searches, NFEs, candidates/s, ETA), or JSON lines for scripts, or nothing.

Lightning's own bars and notices are left out (``predict`` quiets its loggers); errors and warnings still show.
"""

from __future__ import annotations

import sys
import time

from lightning.pytorch.callbacks import Callback

from ..run.console import Console

class SearchProgress(Callback):
    """One bar on rank 0 over its searches, with NFEs spent and candidates evaluated per second as its postfix."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = None
        self.started = 0.0

    def on_predict_start(self, trainer, pl_module) -> None:
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
        stats = pl_module.session.stats
        self.bar.set_postfix_str(f"NFEs {stats.nfe}, {stats.candidates / elapsed:.1f} candidates/s", refresh=False)
        self.bar.update(len(batch))

    def on_predict_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
