"""The progress callback: rank 0's bar (or plain lines) over its searches' NFE budget, advanced every round.

Lightning's own bars and notices are left out (``predict`` quiets its loggers); errors and warnings still show.
"""

from __future__ import annotations

from typing import Optional

from lightning.pytorch.callbacks import Callback

from ..run.console import Console
from ..run.progress import Progress


class SearchProgress(Callback):
    """Watches the run's session on global rank 0 once its searches are known (``run.progress.Progress``)."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Optional[Progress] = None

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.progress is not None or not trainer.is_global_zero or not self.console.shows_text:
            return
        loader = trainer.predict_dataloaders
        searches = len(loader.sampler) if loader is not None and hasattr(loader, "sampler") else len(batch)
        label = "searches" if trainer.world_size == 1 else f"searches (rank 0 of {trainer.world_size})"
        search = pl_module.run_settings.search
        self.progress = Progress(searches, search.share_nfe or search.budget_nfe, label)
        pl_module.session.watch(self.progress.round)

    def on_predict_end(self, trainer, pl_module) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
