"""The LightningModule: wraps pipeline, verifiers and algorithm; ``predict_step`` runs the searches of a batch."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Literal, Optional, Sequence, Union

import lightning as L
import torch
from jsonargparse.typing import PositiveInt
from torch import nn

from .. import registry
from ..errors import Stopped, UsageError, peer_lost
from ..engine import Executor, SearchResult, SearchSettings, Shard, Task
from ..engine.whole import runs_whole
from ..store.journal import Journal
from ..resolve import describe_spec, resolve_pipeline, resolve_verifiers
from ..sampling.samplers import SAMPLER_NAMES

DEFAULT_BUDGET_SAMPLES = 16


class SearchModule(L.LightningModule):
    """Noise search for a diffusion model: ``predict`` runs one search per (condition, repeat).

    Args:
        pipeline: a registered pipeline name (``noisesearch list``) or a local folder of a pipeline.
        algorithm: a registered search algorithm name.
        algorithm_args: the algorithm's hyperparameters (see docs/algorithms.md).
        verifiers: verifier names or ``name:argument`` specs; several form a mean-rank ensemble.
            By default the pipeline's own.
        budget_nfe: NFE budget of each search, its final sample included. By default 16 samples' worth.
        steps: denoising steps of a full solve; by default the pipeline's.
        guidance: classifier-free guidance scale (1 = none); by default the pipeline's.
        sampler: ODE solver in sigma space, ``heun``, ``euler`` or ``dpm2m`` (DPM-Solver++(2M)); by default the
            pipeline's.
        batch_size: candidates per forward pass of the denoiser, or ``auto``. Results do not depend on it. When the
            device runs out of memory, the batch is halved until it fits (``auto`` starts at 256) and the size
            that fits is kept for the rest of the run (``batch_size_settled`` in summary.json).
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
    """

    def __init__(
        self,
        pipeline: str = "digits",
        algorithm: str = "random",
        algorithm_args: Optional[dict[str, Any]] = None,
        verifiers: Optional[list[str]] = None,
        budget_nfe: Optional[PositiveInt] = None,
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
    ):
        super().__init__()
        self.pipeline_spec = describe_spec(pipeline)
        self.pipeline_cls, self.pipeline_source = resolve_pipeline(pipeline)
        family = self.pipeline_cls
        algorithm_cls = registry.lookup("algorithms", algorithm).cls
        self.verifier_specs = list(verifiers) if verifiers is not None else list(family.default_verifiers)
        self.verifier_classes = resolve_verifiers(self.verifier_specs, family.condition_kind)
        self.pipeline_cls = family = family.for_search(mode, algorithm_cls, [cls for cls, _ in self.verifier_classes])
        if sampler is not None:
            family.check_sampler(sampler)
        if offload and not family.can_offload:
            raise UsageError(f"model.offload applies to diffusers pipelines, not to {family.name!r}; leave it unset")
        self.offload = offload
        self.keep_images = keep_images
        if guidance is not None and guidance < 0:
            raise UsageError(f"model.guidance={guidance} is negative; use 1 for no guidance or a scale above 1")
        height = height or family.default_height
        width = width or family.default_width
        family.check_size(height, width)
        if verifier_weights is not None:
            if ensemble != "weighted":
                raise UsageError("model.verifier_weights needs model.ensemble weighted")
            if len(verifier_weights) != len(self.verifier_specs) or any(w < 0 for w in verifier_weights):
                raise UsageError(f"model.verifier_weights needs one non-negative weight per verifier "
                                 f"({len(self.verifier_specs)}: {', '.join(self.verifier_specs)})")
        self.verifier_device = check_device(verifier_device) if verifier_device else None
        self.dtype_name = dtype
        params = algorithm_cls.parse_params(algorithm_args)
        provisional = SearchSettings(
            algorithm=algorithm_cls, params=params, budget_nfe=0, steps=steps or family.default_steps,
            sampler=sampler or family.default_sampler,
            guidance=family.default_guidance if guidance is None else guidance,
            batch_size=None if batch_size == "auto" else batch_size, height=height, width=width, seed=0,
            ensemble=ensemble,
            weights=tuple(verifier_weights) if verifier_weights is not None else None,
        )
        sample_nfe = provisional.sample_nfe(family)
        budget = budget_nfe if budget_nfe is not None else DEFAULT_BUDGET_SAMPLES * sample_nfe
        algorithm_cls.check_budget(params, budget, sample_nfe)
        self.settings = dataclasses.replace(provisional, budget_nfe=budget)
        self.sample_nfe = sample_nfe
        self.shard = shard
        self.out = "the run folder"  # set by the CLI, for messages
        self.seed = 0
        self.journal: Optional[Journal] = None
        self.replay: dict[tuple, dict] = {}
        self.finished: dict[tuple, dict] = {}
        self.pipeline: Optional[nn.Module] = None
        self.verifiers = nn.ModuleList()
        self.executor: Optional[Executor] = None
        self.elapsed_s = 0.0
        self._started = 0.0

    def check_tasks(self, tasks: Sequence[Task]) -> None:
        """Reject conditions the pipeline cannot take, before anything loads."""
        self.pipeline_cls.check_conditions([task.condition for task in tasks])

    def load(self) -> None:
        """Load the pipeline (in ``dtype``) and the verifiers (once)."""
        if self.pipeline is None:
            self.pipeline = self.pipeline_cls.load(self.pipeline_source)
            if self.dtype_name is not None:
                self.pipeline.to(DTYPES[self.dtype_name])
            for cls, argument in self.verifier_classes:
                verifier = cls(argument)
                verifier.attach(self.pipeline_cls)
                self.verifiers.append(verifier)
            self.eval()

    def check_schedule(self) -> None:
        """Let the algorithm check the loaded model's schedule against the budget (raises a UsageError)."""
        Executor(self.pipeline, list(self.verifiers), self.settings)

    @property
    def nfe_used(self) -> int:
        return self.executor.nfe_used if self.executor is not None else 0

    def start(self, world: int = 1, rank: int = 0) -> None:
        """Begin a run: the executor holds the NFE counter of all its searches."""
        settings = dataclasses.replace(self.settings, seed=self.seed)
        shard = None
        if self.shard == "candidates" and world > 1:
            shard = Shard(rank, world, functools.partial(gather_objects, rank=rank, world=world, out=self.out))
        self.executor = Executor(self.pipeline, list(self.verifiers), settings, self.journal, self.replay, shard,
                                 self.keep_images)
        self.elapsed_s = 0.0

    def run(self, tasks: Sequence[Task]) -> list[SearchResult]:
        """Run the searches of ``tasks`` (timed into ``elapsed_s``)."""
        started = time.perf_counter()
        with torch.no_grad():
            try:
                results = self.executor.run(tasks)
            except Stopped as stop:
                raise Stopped(f"{stop}: every candidate evaluated so far is kept, and `noisesearch resume "
                              f"{self.out}` continues the run") from None
        elapsed = time.perf_counter() - started
        self.elapsed_s += elapsed
        total = sum(result.nfe for result in results)
        for result in results:  # searches share batches: each gets the batch's time in proportion to its NFEs
            share = result.nfe / total if total else 1 / len(results)
            result.seconds = round(elapsed * share, 4)
        return results

    @property
    def batch_size_settled(self) -> Optional[int]:
        """The candidates per batch that fit in this process (after any out-of-memory back-off)."""
        return self.executor.settled_batch_size if self.executor is not None else None

    @property
    def denoiser_seconds(self) -> float:
        """Seconds this process spent in denoiser calls (whole-pipeline calls in whole mode)."""
        return self.executor.denoiser_seconds if self.executor is not None else 0.0

    @property
    def verifier_seconds(self) -> dict[str, float]:
        """Seconds each verifier spent scoring in this process (apart from the denoiser's NFEs)."""
        return dict(self.executor.verifier_seconds) if self.executor is not None else {}

    def check_dtype(self, device: torch.device) -> None:
        """Refuse a dtype the device cannot run (fp16 on a CPU, bf16 on a GPU without it)."""
        if self.dtype_name == "fp16" and device.type == "cpu":
            raise UsageError("model.dtype fp16 needs a GPU; on a CPU use bf16 or fp32")
        if self.dtype_name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UsageError(f"model.dtype bf16: {torch.cuda.get_device_name(device)} does not support it; use fp16")

    def prepare(self, device: torch.device) -> None:
        """Check the dtype against ``device``, load, and hand the pipeline's parts to offload hooks if asked."""
        self.check_dtype(device)
        self.load()
        if self.offload and not getattr(self.pipeline, "offloaded", False):
            self.pipeline.offload(device)

    def setup(self, stage: str) -> None:
        self.prepare(self.trainer.strategy.root_device)

    def on_predict_start(self) -> None:
        if self.verifier_device is not None:
            self.verifiers.to(self.verifier_device)
        self.start(self.trainer.world_size, self.trainer.global_rank)
        self.executor.stop_requested = lambda: bool(getattr(self.trainer, "received_sigterm", False))

    def headline(self, world: int = 1) -> str:
        """The line a run starts with: what searches, on what, at what cost per search, where."""
        scheduler = self.pipeline_cls.scheduler
        if scheduler and runs_whole(self.pipeline_cls):
            sampler = f"steps of its {scheduler}"
        else:
            sampler = f"{self.settings.sampler} steps" + (f" on its {scheduler}'s levels" if scheduler else "")
        device = next(self.pipeline.parameters(), torch.empty(0)).device if self.pipeline is not None else "cpu"
        where = f"{world} processes" if world > 1 else str(device)
        return (f"noisesearch: {self.settings.algorithm.name} on {self.pipeline_spec} ({where}), budget "
                f"{self.settings.budget_nfe} NFEs per search ({self.sample_nfe} NFEs per sample: {self.settings.steps} "
                f"{sampler}, guidance {self.settings.guidance}), verifiers {', '.join(self.verifier_specs)}")

    @property
    def candidates_evaluated(self) -> int:
        """Candidates this process evaluated (replayed ones not counted)."""
        return self.executor.evaluated if self.executor is not None else 0

    def predict_step(self, batch: Sequence[Task], batch_idx: int, dataloader_idx: int = 0) -> list[SearchResult]:
        todo = [task for task in batch if (task.condition.key, task.repeat) not in self.finished]
        return self.run(todo) if todo else []

    def describe(self) -> dict:
        """The settings that fix the run's results, for ``summary.json``."""
        s = self.settings
        return {
            "pipeline": self.pipeline_spec,
            "algorithm": s.algorithm.name,
            "algorithm_args": {k: v for k, v in s.params.__dict__.items()},
            "verifiers": self.verifier_specs,
            "higher_is_better": {cls.name: cls.higher_is_better for cls, _ in self.verifier_classes},
            "ensemble": s.ensemble,
            "verifier_weights": list(s.weights) if s.weights is not None else None,
            "seed": self.seed,
            "steps": s.steps,
            "sampler": s.sampler,
            "guidance": s.guidance,
            "height": s.height,
            "width": s.width,
            "dtype": self.dtype_name,
            "offload": self.offload,
            "mode": "whole" if runs_whole(self.pipeline_cls) else "native",
            "budget_nfe": s.budget_nfe,
            "sample_nfe": self.sample_nfe,
            **({"scheduler": self.pipeline_cls.scheduler} if self.pipeline_cls.scheduler else {}),
        }


def gather_objects(payload, rank: int = 0, world: int = 1, out: str = "the run folder"):
    """All-gather a picklable object from every rank (torch.distributed; gloo or nccl); a lost peer is one line."""
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(gathered, payload)
    except RuntimeError as error:  # gloo and NCCL report a dead or silent peer as RuntimeError
        raise peer_lost(rank, world, error, out) from None
    return gathered


def check_device(spec: str) -> torch.device:
    """A torch device this machine has, or a UsageError naming the problem."""
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise UsageError(f"model.verifier_device {spec!r} is no device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UsageError(f"model.verifier_device {spec!r}: this machine has {torch.cuda.device_count()} CUDA "
                         "devices; pick one it has or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"model.verifier_device {spec!r}: MPS is not available here; use cpu")
    return device


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
