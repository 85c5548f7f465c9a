"""The LightningModule: holds the run's settings and loaded models; ``predict_step`` hands a batch of searches to
the run's session (``noisesearch.run``), which the CLI's callback opened on the run folder."""

from __future__ import annotations

import signal
import threading
from typing import Any, Literal, Optional, Sequence, Union

import lightning as L
from jsonargparse.typing import PositiveFloat, PositiveInt

from ..engine import SearchResult, Task
from ..run.models import Models
from ..run.progress import RoundReport
from ..run.session import RunSession
from ..run.settings import build
from ..sampling.samplers import SAMPLER_NAMES


class SearchModule(L.LightningModule):
    """Noise search for a diffusion model: ``predict`` runs one search per (condition, repeat).

    Args:
        pipeline: a registered pipeline name (``noisesearch list``) or a local folder of a pipeline.
        algorithm: a registered search algorithm name.
        algorithm_args: the algorithm's hyperparameters (see docs/algorithms.md).
        verifiers: verifier names or ``name:argument`` specs (one name alone is taken as a list of one); several
            form a mean-rank ensemble.
            By default the pipeline's own.
        budget_nfe: NFE budget of each search, its final sample included. By default 16 samples' worth (with
            ``budget_seconds``, 4096 samples' worth: a cap the clock reaches first).
        budget_seconds: wall-clock seconds each search may spend (verifiers and the journal counted; searches
            batched together share their sum); anytime algorithms (random, zero-order, evolution, gradient) stop
            asking when it is spent. summary.json records each search's NFEs reached (``nfe_reached``), and a rerun
            with ``budget_nfe`` set to them gives the same results.
        steps: denoising steps of a full solve; by default the pipeline's.
        guidance: classifier-free guidance scale (1 = none); by default the pipeline's.
        sampler: ODE solver in sigma space, ``heun``, ``euler`` or ``dpm2m`` (DPM-Solver++(2M)); by default the
            pipeline's.
        batch_size: candidates per forward pass of the denoiser, or ``auto`` (chunks of 4 to 256 candidates timed
            on the run's first rounds, the one with the most NFEs per second that fits kept: ``batch_size_auto`` in
            summary.json). Results do not depend on it. When the device runs out of memory, the batch is halved
            until it fits and the size that fits is kept for the rest of the run (``batch_size_settled``).
        height: image height; by default the pipeline's.
        width: image width; by default the pipeline's.
        shard: how several devices split the work: ``conditions`` (each rank runs whole searches) or
            ``candidates`` (every rank runs every search and evaluates its share of each round's candidates).
        ensemble: how several verifiers combine: ``rank`` (mean rank, as the paper) or ``weighted`` (weighted sum
            of scores standardised over a search's candidates).
        verifier_weights: weights of ``weighted``, one per verifier (default: equal).
        verifier_device: where the verifiers run (``cpu``, ``cuda:1``...); by default the pipeline's device.
        dtype: the pipeline's weights and activations, ``fp32``, ``bf16`` or ``fp16`` (verifiers stay as they
            are); by default as loaded. ``trainer.precision`` (e.g. ``bf16-true``) converts pipeline and verifiers.
        mode: diffusers pipelines only: ``whole`` runs ``pipe(latents=...)`` per candidate batch (initial-noise
            algorithms), ``native`` drives the pipeline's denoiser with the core's sampler (every algorithm). By
            default whole where the algorithm and verifiers need only initial noises and final images, else native
            (and native for pipelines that draw their own noise, such as DiT).
        offload: diffusers pipelines only: model CPU offload (each component is moved to the device only while it
            runs, as diffusers' ``enable_model_cpu_offload``), for pipelines larger than the GPU's memory.
        keep_images: the journal keeps every candidate's image (8 bits, as its PNG) by default; with K, only
            images of candidates fewer than K earlier ones of their search beat on every verifier (the best few; resume
            stays exact). Thumbnails for report.html are kept for every candidate either way.
        compile: ``torch.compile`` the pipeline's denoiser network: ``off``, ``denoiser`` (the whole network) or
            ``regional`` (each of its repeated blocks, compiled once and reused, as diffusers'
            ``compile_repeated_blocks``: a shorter cold start). Chunks are padded to one size so nothing recompiles
            mid-run; the compile warm-up is reported apart (``compile_warmup_s``). Results match eager ones to float
            rounding, so a run resumes only under the setting it started with.
        preview_decoder: diffusers pipelines in native mode: a diffusers ``AutoencoderTiny`` (TAESD, TAESDXL, TAESD3,
            TAEF1; a folder or hub id) that decodes the x0-previews SMC, beam, halving, paths and preview verifiers
            score; finished candidates always use the pipeline's own VAE.
        preview_size: score x0-previews with their longer side at most this many pixels (latent pipelines decode
            them at that size); finished candidates keep the full size.
        background_writes: the journal's artifacts and records are written on a background thread, in order and
            at most two rounds behind, so the device never waits for them (a candidate is kept across a crash once
            its round is durable; results are written after every round before them); false writes them inline.
    """

    def __init__(
        self,
        pipeline: str = "digits",
        algorithm: str = "random",
        algorithm_args: Optional[dict[str, Any]] = None,
        verifiers: Optional[Union[list[str], str]] = None,
        budget_nfe: Optional[PositiveInt] = None,
        budget_seconds: Optional[PositiveFloat] = None,
        steps: Optional[PositiveInt] = None,
        guidance: Optional[float] = None,
        sampler: Optional[Literal[SAMPLER_NAMES]] = None,
        batch_size: Union[PositiveInt, Literal["auto"]] = 32,
        height: Optional[PositiveInt] = None,
        width: Optional[PositiveInt] = None,
        shard: Literal["conditions", "candidates"] = "conditions",
        ensemble: Literal["rank", "weighted"] = "rank",
        verifier_weights: Optional[list[float]] = None,
        verifier_device: Optional[str] = None,
        dtype: Optional[Literal["fp32", "bf16", "fp16"]] = None,
        mode: Optional[Literal["whole", "native"]] = None,
        offload: bool = False,
        keep_images: Optional[PositiveInt] = None,
        compile: Literal["off", "denoiser", "regional"] = "off",
        preview_decoder: Optional[str] = None,
        preview_size: Optional[PositiveInt] = None,
        background_writes: bool = True,
    ):
        super().__init__()
        self.run_settings = build(
            pipeline=pipeline, algorithm=algorithm, algorithm_args=algorithm_args, verifiers=verifiers,
            budget_nfe=budget_nfe, budget_seconds=budget_seconds, steps=steps, guidance=guidance, sampler=sampler,
            batch_size=batch_size,
            height=height, width=width, shard=shard, ensemble=ensemble, verifier_weights=verifier_weights,
            verifier_device=verifier_device, dtype=dtype, mode=mode, offload=offload, keep_images=keep_images,
            compile=compile, preview_decoder=preview_decoder, preview_size=preview_size,
            background_writes=background_writes)
        self.models = Models(self.run_settings)
        self._own_session: Optional[RunSession] = None
        self._interrupted = False

    @property
    def pipeline_cls(self):
        """The pipeline family (a class, or a plugin's description object)."""
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
        return self.session.describe()

    def setup(self, stage: str) -> None:
        self.models.prepare(self.trainer.strategy.root_device)

    def on_predict_start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_interrupt)
        self.session.begin(self.models, self._stop_reason, self.run_settings.shard == "candidates")
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
        """Ctrl-C: stop after the round is journaled; a second Ctrl-C stops at once."""
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True

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
