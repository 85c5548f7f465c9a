"""A run's settings, resolved and checked before anything loads: names to classes, sizes, guidance, the budget.

``build`` takes the arguments of ``noisesearch predict``'s ``model`` section (and of ``noisesearch.search``) and
returns one complete ``RunSettings``; a bad value raises a one-line UsageError naming the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .. import registry
from ..engine import SearchSettings, Task
from ..engine.types import sample_nfe as nfe_of_sample
from ..engine.whole import runs_whole
from ..errors import BudgetError, UsageError
from ..resolve import describe_spec, resolve_pipeline, resolve_verifiers

DEFAULT_BUDGET_SAMPLES = 16
CLOCK_CAP_SAMPLES = 4096  # with ``model.budget_seconds`` and no budget_nfe: a cap the clock reaches first
SHARDS = ("conditions", "candidates")
COMPILE = ("off", "denoiser", "regional")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run is set to: the pipeline family and source, the verifiers, and the engine's settings."""

    pipeline_spec: str
    family: Any  # a Pipeline class, or a plugin's description object with the same interface
    source: Optional[str]
    verifier_specs: tuple[str, ...]
    verifier_classes: tuple[tuple[type, Optional[str]], ...]
    search: SearchSettings
    sample_nfe: int
    shard: str = "conditions"
    offload: bool = False
    keep_images: Optional[int] = None
    verifier_device: Optional[str] = None
    dtype: Optional[str] = None
    preview_decoder: Optional[str] = None
    background_writes: bool = True

    def check_tasks(self, tasks: Sequence[Task]) -> None:
        """Reject conditions the pipeline cannot take, before anything loads."""
        self.family.check_conditions([task.condition for task in tasks])

    @property
    def mode(self) -> str:
        return "whole" if runs_whole(self.family) else "native"

    def describe(self, seed: int) -> dict:
        """The settings that fix the run's results (``run.json``, the head of ``summary.json``)."""
        s = self.search
        return {
            "pipeline": self.pipeline_spec,
            "algorithm": s.algorithm.name,
            "algorithm_args": dict(s.params.__dict__),
            "verifiers": list(self.verifier_specs),
            "higher_is_better": {cls.name: cls.higher_is_better for cls, _ in self.verifier_classes},
            "ensemble": s.ensemble,
            "verifier_weights": list(s.weights) if s.weights is not None else None,
            "seed": seed,
            "steps": s.steps,
            "sampler": s.sampler,
            "guidance": s.guidance,
            "height": s.height,
            "width": s.width,
            "dtype": self.dtype,
            "offload": self.offload,
            "mode": self.mode,
            "budget_nfe": s.budget_nfe,
            "budget_seconds": s.budget_seconds,
            "sample_nfe": self.sample_nfe,
            "compile": s.compile,
            "preview_decoder": self.preview_decoder,
            "preview_size": s.preview_size,
            "background_writes": self.background_writes,
            **({"scheduler": self.family.scheduler} if self.family.scheduler else {}),
        }

    def arguments(self) -> dict:
        """The ``model`` arguments that rebuild these settings (a run's config.yaml when started from Python)."""
        s = self.search
        return {"pipeline": self.pipeline_spec, "algorithm": s.algorithm.name, "algorithm_args": dict(s.params.__dict__),
                "verifiers": list(self.verifier_specs), "budget_nfe": s.budget_nfe,
                "budget_seconds": s.budget_seconds, "steps": s.steps,
                "guidance": s.guidance, "sampler": s.sampler, "batch_size": s.batch_size or "auto", "height": s.height,
                "width": s.width, "shard": self.shard, "ensemble": s.ensemble,
                "verifier_weights": list(s.weights) if s.weights is not None else None,
                "verifier_device": self.verifier_device, "dtype": self.dtype, "mode": self.mode,
                "offload": self.offload, "keep_images": self.keep_images, "compile": s.compile,
                "preview_decoder": self.preview_decoder, "preview_size": s.preview_size,
                "background_writes": self.background_writes}

    def headline(self, where: str) -> str:
        """The line a run starts with: what searches, on what, at what cost per search, where."""
        scheduler = self.family.scheduler
        if scheduler and runs_whole(self.family):
            sampler = f"steps of its {scheduler}"
        else:
            sampler = f"{self.search.sampler} steps" + (f" on its {scheduler}'s levels" if scheduler else "")
        budget = (f"{self.search.budget_seconds:g} s per search (at most {self.search.budget_nfe} NFEs)"
                  if self.search.budget_seconds is not None else f"{self.search.budget_nfe} NFEs per search")
        return (f"noisesearch: {self.search.algorithm.name} on {self.pipeline_spec} ({where}), budget "
                f"{budget} ({self.sample_nfe} NFEs per sample: {self.search.steps} "
                f"{sampler}, guidance {self.search.guidance}), verifiers {', '.join(self.verifier_specs)}")


def build(pipeline: Any = "digits", algorithm: str = "random", algorithm_args: Optional[dict] = None,
          verifiers: Optional[Sequence[str]] = None, budget_nfe: Optional[int] = None, steps: Optional[int] = None,
          guidance: Optional[float] = None, sampler: Optional[str] = None, batch_size: Any = 32,
          height: Optional[int] = None, width: Optional[int] = None, shard: str = "conditions",
          ensemble: str = "rank", verifier_weights: Optional[Sequence[float]] = None,
          verifier_device: Optional[str] = None, dtype: Optional[str] = None, mode: Optional[str] = None,
          offload: bool = False, keep_images: Optional[int] = None, compile: str = "off",
          preview_decoder: Optional[str] = None, preview_size: Optional[int] = None,
          background_writes: bool = True, budget_seconds: Optional[float] = None) -> RunSettings:
    """Resolve every name and check every setting from class attributes alone (no weights load)."""
    family, source = resolve_pipeline(pipeline)
    algorithm_cls = registry.lookup("algorithms", algorithm).cls
    if isinstance(verifiers, str):
        verifiers = [verifiers]
    specs = tuple(verifiers) if verifiers is not None else tuple(family.default_verifiers)
    verifier_classes = tuple(resolve_verifiers(list(specs), family.condition_kind))
    family = family.for_search(mode, algorithm_cls, [cls for cls, _ in verifier_classes])
    if sampler is not None:
        family.check_sampler(sampler)
    if offload and not family.can_offload:
        raise UsageError(f"model.offload applies to diffusers pipelines, not to {family.name!r}; leave it unset")
    if guidance is not None and guidance < 0:
        raise UsageError(f"model.guidance={guidance} is negative; use 1 for no guidance or a scale above 1")
    if shard not in SHARDS:
        raise UsageError(f"model.shard {shard!r}: use {' or '.join(SHARDS)}")
    height = height or family.default_height
    width = width or family.default_width
    family.check_size(height, width)
    if verifier_weights is not None:
        if ensemble != "weighted":
            raise UsageError("model.verifier_weights needs model.ensemble weighted")
        if len(verifier_weights) != len(specs) or any(w < 0 for w in verifier_weights):
            raise UsageError(f"model.verifier_weights needs one non-negative weight per verifier "
                             f"({len(specs)}: {', '.join(specs)})")
    if verifier_device is not None:
        check_device(verifier_device)
    if compile not in COMPILE:
        raise UsageError(f"model.compile {compile!r}: use {', '.join(COMPILE)}")
    check_previews(family, algorithm_cls, [cls for cls, _ in verifier_classes], preview_decoder, preview_size)
    params = algorithm_cls.parse_params(algorithm_args)
    steps = steps or family.default_steps
    sampler = sampler or family.default_sampler
    guidance = family.default_guidance if guidance is None else guidance
    sample_nfe = nfe_of_sample(family, sampler, steps, guidance)
    if budget_seconds is not None:
        check_clock(algorithm_cls, params, budget_seconds)
    default = CLOCK_CAP_SAMPLES if budget_seconds is not None else DEFAULT_BUDGET_SAMPLES
    budget = budget_nfe if budget_nfe is not None else default * sample_nfe
    algorithm_cls.check_budget(params, budget, sample_nfe)
    search = SearchSettings(
        algorithm=algorithm_cls, params=params, budget_nfe=budget, steps=steps, sampler=sampler, guidance=guidance,
        batch_size=None if batch_size == "auto" else batch_size, height=height, width=width, seed=0,
        ensemble=ensemble, weights=tuple(verifier_weights) if verifier_weights is not None else None,
        preview_size=preview_size, compile=compile, budget_seconds=budget_seconds,
    )
    return RunSettings(pipeline_spec=describe_spec(pipeline), family=family, source=source, verifier_specs=specs,
                       verifier_classes=verifier_classes, search=search, sample_nfe=sample_nfe, shard=shard,
                       offload=offload, keep_images=keep_images, verifier_device=verifier_device, dtype=dtype,
                       preview_decoder=preview_decoder, background_writes=background_writes)


def check_clock(algorithm: type, params: Any, seconds: float) -> None:
    """Refuse ``model.budget_seconds`` where a clock cannot stop the search and keep the NFE record's promise."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise UsageError(f"model.budget_seconds={seconds!r}: give a positive number of seconds")
    if not algorithm.anytime:
        anytime = sorted(name for name, entry in registry.index()["algorithms"].items() if entry.cls.anytime)
        raise BudgetError(f"model.budget_seconds: algorithm {algorithm.name!r} plans its rounds from "
                          f"model.budget_nfe, so a clock cannot stop it; use model.budget_nfe, or an anytime "
                          f"algorithm ({', '.join(anytime)})")
    algorithm.check_clock(params)


def check_previews(family: Any, algorithm: type, verifiers: Sequence[type], decoder: Optional[str],
                   size: Optional[int]) -> None:
    """Refuse preview settings nothing would use: the search decodes no preview (whole-pipeline mode, an algorithm
    of finished samples with no preview verifier), or its family has no latents for a tiny autoencoder."""
    asked = [name for name, value in (("model.preview_decoder", decoder), ("model.preview_size", size))
             if value is not None]
    if not asked:
        return
    if size is not None and (not isinstance(size, int) or size < 8):
        raise UsageError(f"model.preview_size {size!r}: give the previews' longer side in pixels (8 or more)")
    previews = not algorithm.initial_noises_only or any(v.preview_sigma is not None for v in verifiers)
    if runs_whole(family) or not previews:
        raise UsageError(f"{' and '.join(asked)}: this search decodes no x0-preview (algorithm {algorithm.name!r} "
                         "scores finished samples only and no verifier reads previews), so nothing would use it; "
                         "leave it unset")
    if decoder is not None and not getattr(family, "latent_previews", False):
        raise UsageError(f"model.preview_decoder applies to latent diffusion pipelines (diffusers in native mode), "
                         f"not to {family.display_name()!r}; leave it unset (model.preview_size still applies)")


def check_device(spec: str) -> "torch.device":
    """A torch device this machine has, or a UsageError naming the problem."""
    import torch

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
