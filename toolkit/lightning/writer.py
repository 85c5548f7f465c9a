"""The callback that ties Lightning's hooks to the run's session: the folder on setup (rank 0 first, the others
wait at a barrier), the summary at the end. Results are written by the session as each batch finishes."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback

from ..run.session import RunSession


class RunCallback(Callback):
    """Holds the run's session; the LightningModule finds it here (``SearchModule.session``)."""

    def __init__(self, session: RunSession, config_text: str | None = None):
        self.session = session
        self.config_text = config_text

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Global rank 0 (Lightning's cluster environment: its launcher, torchrun, SLURM, MPI) prepares the folder
        while the other ranks wait; then every rank opens its own journal. Sharding by candidates gives every rank
        the same results: rank 0 alone writes them."""
        writes = self.session.settings.args.shard != "candidates" or trainer.is_global_zero
        self.session.open(self.config_text, trainer.global_rank, trainer.world_size, trainer.strategy.barrier, writes)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.session.finish(trainer.strategy.barrier)
