"""Lightning's progress bar counting searches (not batches) and showing NFEs spent."""

from __future__ import annotations

from lightning.pytorch.callbacks import TQDMProgressBar


class SearchProgressBar(TQDMProgressBar):
    """A TQDM bar over this rank's searches, with NFEs used so far as its postfix."""

    def init_predict_tqdm(self):
        bar = super().init_predict_tqdm()
        bar.set_description("searches")
        return bar

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.has_dataloader_changed(dataloader_idx):
            return
        bar = self.predict_progress_bar
        bar.reset()
        bar.total = len(trainer.predict_dataloaders.sampler) if trainer.predict_dataloaders else None
        bar.initial = 0
        bar.set_description("searches")
        self._searches_done = 0

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._searches_done += len(batch)
        bar = self.predict_progress_bar
        bar.n = self._searches_done
        bar.set_postfix(nfe=pl_module.nfe_used, refresh=False)
        bar.refresh()
