"""The LightningModule: holds the run's settings and loaded models; ``predict_step`` hands a batch of searches to
the run's session (``noisesearch.run``), which the CLI's callback opened on the run folder."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Optional, Sequence

import lightning as L

from .. import model_args
from ..engine import SearchResult, Task
from ..pipeline import Family
from ..errors import Stopped
from ..run.models import Models
from ..run.progress import RoundReport
from ..run.session import RunSession
from ..run.settings import build


class SearchModule(L.LightningModule):
    """Noise search for a diffusion model (the settings: ``noisesearch.model_args.ModelArgs``)."""

    def __init__(self, **model: Any):
        super().__init__()
        self.run_settings = build(**model)
        self.models = Models(self.run_settings)
        self._own_session: Optional[RunSession] = None
        self._interrupted = False

    @property
    def family(self) -> Family:
        """The pipeline family the run's settings name (before anything loads)."""
        return self.run_settings.family

    @property
    def pipeline(self):
        return self.models.pipeline

    @property
    def session(self) -> RunSession:
        """The run's session: the one the CLI's callback opened on the run folder, else a folderless one."""
        trainer = self._trainer
        for callback in (trainer.callbacks if trainer is not None else []):
            if getattr(callback, "session", None) is not None:
                return callback.session
        if self._own_session is None:
            self._own_session = RunSession(self.run_settings)
        return self._own_session

    def describe(self) -> dict:
        """The settings that fix the run's results, for ``summary.json``."""
        return self.session.describe().to_json()

    def setup(self, stage: str) -> None:
        self.models.prepare(self.trainer.strategy.root_device)

    def on_predict_start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_interrupt)
        self.session.begin(self.models, self._stop_reason, self.run_settings.args.shard == "candidates")
        if self.logger is not None and self.trainer.is_global_zero:
            self._logged = 0
            self.session.watch(self._log_round, best=True)

    def _log_round(self, report: RoundReport) -> None:
        """Per batch of candidates, to ``trainer.logger`` (TensorBoard, CSV, W&B...): NFEs done, searches finished,
        candidates per second, and the mean best score so far of the first verifier (step: NFEs done)."""
        metrics = {"nfe": float(report.done), "searches_finished": float(report.finished),
                   "candidates_per_s": report.candidates / report.seconds if report.seconds > 0 else 0.0}
        if report.best is not None:
            metrics["best_score"] = float(report.best)
        self.logger.log_metrics(metrics, step=self._logged)
        self._logged += 1

    def _on_interrupt(self, signum, frame) -> None:
        """Ctrl-C: stop after the round in flight is journaled, said at once with the wait; a second Ctrl-C stops
        at once (exit code 130), losing only that round."""
        if self._interrupted:
            raise Stopped("stopped at once on a second Ctrl-C (the round in flight is lost)", 130)
        self._interrupted = True
        left = self.session.round_left()
        wait = f"about {left:.0f} s" if left is not None else "the time of one round"
        print(f"\nnoisesearch: Ctrl-C: stopping once this round of candidates is journaled ({wait}); Ctrl-C again "
              "stops at once, losing only this round", file=sys.stderr, flush=True)

    def _stop_reason(self) -> Optional[str]:
        if self._interrupted:
            return "Ctrl-C"
        return "SIGTERM" if getattr(self.trainer, "received_sigterm", False) else None

    def on_predict_end(self) -> None:
        if self.logger is not None and self.trainer.is_global_zero:
            self.logger.save()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def predict_step(self, batch: Sequence[Task], batch_idx: int, dataloader_idx: int = 0) -> list[SearchResult]:
        return self.session.run(list(batch))


# one declaration (``ModelArgs``) gives the signature LightningCLI parses and the help it prints
SearchModule.__init__.__signature__ = model_args.signature()
SearchModule.__doc__ = model_args.docstring(model_args.ModelArgs.__doc__)
