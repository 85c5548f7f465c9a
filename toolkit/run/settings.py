"""A run's settings, resolved and checked before anything loads: names to classes, sizes, guidance, the budget.

``build`` takes the arguments of ``noisesearch predict``'s ``model`` section (and of ``noisesearch.search``), the fields
of ``noisesearch.model_args.ModelArgs``, and returns one complete ``RunSettings``; a bad value raises a one-line
UsageError naming the key and the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .. import model_args, registry
from ..engine import SearchSettings, Task
from ..engine.types import sample_nfe as nfe_of_sample
from ..engine.whole import runs_whole
from ..errors import BudgetError, UsageError
from ..model_args import ModelArgs
from ..pipeline import Family
from ..resolve import describe_spec, resolve_pipeline, resolve_verifiers

if TYPE_CHECKING:
    import torch

DEFAULT_BUDGET_SAMPLES = 16
RUN_CAP = 2  # ``model.budget_scope run``: the most shares one search may spend
CLOCK_CAP_SAMPLES = 4096  # with ``model.budget_seconds`` and no budget_nfe: a cap the clock reaches first
SHARDS = ("conditions", "candidates")
COMPILE = ("off", "denoiser", "regional")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run is set to: its ``model`` settings resolved (``args``: names, defaults and the budget filled
    in), the pipeline family and source, the verifier classes, and the engine's settings."""

    args: ModelArgs
    family: Family
    source: Optional[str]
    verifier_classes: tuple[tuple[type, Optional[str]], ...]
    search: SearchSettings
    sample_nfe: int
    guard_class: Optional[tuple[type, Optional[str]]] = None  # ``model.guard``: held out, it never drives

    @property
    def pipeline_spec(self) -> str:
        return self.args.pipeline

    @property
    def verifier_specs(self) -> tuple[str, ...]:
        return tuple(self.args.verifiers)

    def check_tasks(self, tasks: Sequence[Task]) -> None:
        """Reject conditions the pipeline cannot take, before anything loads."""
        self.family.check_conditions([task.condition for task in tasks])

    def describe(self, seed: int) -> dict:
        """The settings that fix the run's results (``run.json``, the head of ``summary.json``): every recorded
        setting as resolved, and what follows from them."""
        described = {name: getattr(self.args, name) for name in model_args.RECORDED}
        described["algorithm_args"] = dict(self.search.params.__dict__)
        judges = [*self.verifier_classes, *([self.guard_class] if self.guard_class else [])]
        described.update(higher_is_better={cls.name: cls.higher_is_better for cls, _ in judges},
                         seed=seed, sample_nfe=self.sample_nfe)
        if self.family.scheduler:
            described["scheduler"] = self.family.scheduler
        return described

    def arguments(self) -> dict:
        """The ``model`` arguments that rebuild these settings (a run's config.yaml when started from Python)."""
        return {**dataclasses.asdict(self.args), "algorithm_args": dict(self.search.params.__dict__)}

    def headline(self, where: str) -> str:
        """The line a run starts with: what searches, on what, at what cost per search, where."""
        scheduler = self.family.scheduler
        if scheduler and runs_whole(self.family):
            sampler = f"steps of its {scheduler}"
        else:
            sampler = f"{self.search.sampler} steps" + (f" on its {scheduler}'s levels" if scheduler else "")
        budget = (f"{self.search.budget_seconds:g} s per search (at most {self.search.budget_nfe} NFEs)"
                  if self.search.budget_seconds is not None else f"{self.search.budget_nfe} NFEs per search")
        if self.search.share_nfe is not None:
            budget = (f"{self.search.share_nfe} NFEs per search shared by the run's searches (at most "
                      f"{self.search.budget_nfe} each)")
        return (f"noisesearch: {self.search.algorithm.name} on {self.pipeline_spec} ({where}), budget "
                f"{budget} ({self.sample_nfe} NFEs per sample: {self.search.steps} "
                f"{sampler}, guidance {self.search.guidance}), verifiers {', '.join(self.verifier_specs)}")


def build(**model: Any) -> RunSettings:
    """Resolve every name and check every ``model`` setting (``ModelArgs``' fields; unset ones take their defaults)
    from class attributes alone: no weights load."""
    model_args.check_names(model)
    model_args.check_values(model)
    args = ModelArgs(**model)
    family, source = resolve_pipeline(args.pipeline)
    algorithm_cls = registry.lookup("algorithms", args.algorithm).cls
    verifiers = args.verifiers
    specs = tuple([verifiers] if isinstance(verifiers, str) else verifiers if verifiers is not None
                  else family.default_verifiers)
    verifier_classes = tuple(resolve_verifiers(list(specs), family.condition_kind))
    guard_class = check_guard(args.guard, args.guard_keep, family.condition_kind, verifier_classes)
    family = family.for_search(args.mode, algorithm_cls, [cls for cls, _ in verifier_classes])
    check_family(args, family, specs)
    check_previews(family, algorithm_cls, [cls for cls, _ in verifier_classes], args.preview_decoder,
                   args.preview_size, args.preview_frames)
    params = algorithm_cls.parse_params(args.algorithm_args)
    steps = args.steps or family.default_steps
    sampler = args.sampler or family.default_sampler
    guidance = family.default_guidance if args.guidance is None else args.guidance
    sample_nfe = nfe_of_sample(family, sampler, steps, guidance)
    if args.budget_seconds is not None:
        check_clock(algorithm_cls, params, args.budget_seconds)
    check_scope(args.budget_scope, algorithm_cls, params, args.budget_seconds)
    default = CLOCK_CAP_SAMPLES if args.budget_seconds is not None else DEFAULT_BUDGET_SAMPLES
    budget = args.budget_nfe if args.budget_nfe is not None else default * sample_nfe
    share = budget if args.budget_scope == "run" else None
    cap = budget * RUN_CAP if share else budget  # a run-wide budget: a search may spend up to RUN_CAP shares
    algorithm_cls.check_budget(params, cap, sample_nfe)
    height, width = args.height or family.default_height, args.width or family.default_width
    frames, frame_rate = args.frames or family.default_frames, args.frame_rate or family.default_frame_rate
    resolved = dataclasses.replace(args, pipeline=describe_spec(args.pipeline), verifiers=list(specs),
                                   budget_nfe=budget, steps=steps, sampler=sampler, guidance=guidance, height=height,
                                   width=width, mode="whole" if runs_whole(family) else "native", frames=frames,
                                   frame_rate=frame_rate)
    search = SearchSettings(
        algorithm=algorithm_cls, params=params, budget_nfe=cap, steps=steps, sampler=sampler, guidance=guidance,
        batch_size=None if args.batch_size == "auto" else args.batch_size, height=height, width=width, seed=0,
        ensemble=args.ensemble, weights=tuple(args.verifier_weights) if args.verifier_weights is not None else None,
        preview_size=args.preview_size, compile=args.compile, budget_seconds=args.budget_seconds,
        pad_chunks=args.pad_chunks, baseline=args.baseline, frames=frames, frame_rate=frame_rate,
        clip_frames=args.clip_frames, clip_aggregate=args.clip_aggregate,
        guard_keep=args.guard_keep if guard_class else 1.0, share_nfe=share,
    )
    return RunSettings(args=resolved, family=family, source=source, verifier_classes=verifier_classes,
                       search=search, sample_nfe=sample_nfe, guard_class=guard_class)


def check_family(args: ModelArgs, family: Family, specs: Sequence[str]) -> None:
    """The checks of settings against the family and each other, before anything loads."""
    if args.sampler is not None:
        family.check_sampler(args.sampler)
    if args.offload and not family.can_offload:
        raise UsageError(f"model.offload applies to diffusers pipelines, not to {family.name!r}; leave it unset")
    if args.guidance is not None and args.guidance < 0:
        raise UsageError(f"model.guidance={args.guidance} is negative; use 1 for no guidance or a scale above 1")
    if args.shard not in SHARDS:
        raise UsageError(f"model.shard {args.shard!r}: use {' or '.join(SHARDS)}")
    family.check_size(args.height or family.default_height, args.width or family.default_width)
    family.check_frames(args.frames, args.frame_rate)
    weights = args.verifier_weights
    if weights is not None:
        if args.ensemble != "weighted":
            raise UsageError("model.verifier_weights needs model.ensemble weighted")
        if len(weights) != len(specs) or any(w < 0 for w in weights):
            raise UsageError(f"model.verifier_weights needs one non-negative weight per verifier "
                             f"({len(specs)}: {', '.join(specs)})")
    if args.verifier_device is not None:
        check_device(args.verifier_device)
    if args.pad_chunks and args.batch_size == "auto":
        raise UsageError("model.pad_chunks pads every call to model.batch_size rows; give a fixed batch_size, not auto")
    if args.compile not in COMPILE:
        raise UsageError(f"model.compile {args.compile!r}: use {', '.join(COMPILE)}")


def check_guard(spec: Optional[str], keep: float, kind: str,
                driving: Sequence[tuple[type, Optional[str]]]) -> Optional[tuple[type, Optional[str]]]:
    """The guard's verifier class and argument (None without ``model.guard``), or a UsageError for a guard that
    cannot score finished samples beside the driving verifiers."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise UsageError(f"model.guard_keep={keep!r}: give the share of candidates kept, above 0 and at most 1")
    if spec is None:
        return None
    ((cls, argument),) = resolve_verifiers([spec], kind)
    if cls.preview_sigma is not None or cls.reads_latents:
        raise UsageError(f"model.guard {spec!r} needs x0-previews or noisy latents; a guard scores finished samples "
                         "alone: give a verifier of final images")
    if cls.name in {driving_cls.name for driving_cls, _ in driving}:
        raise UsageError(f"model.guard {spec!r} is the verifier {cls.name!r}, which already drives the search; a "
                         "guard is held out: give another verifier")
    return cls, argument


def check_scope(scope: str, algorithm: type, params: Any, seconds: Optional[float]) -> None:
    """Refuse a run-wide budget where searches cannot be stopped and extended by NFEs."""
    if scope not in ("search", "run"):
        raise UsageError(f"model.budget_scope {scope!r}: use search or run")
    if scope == "search":
        return
    if seconds is not None:
        raise UsageError("model.budget_scope run shares NFEs, not seconds; leave model.budget_seconds unset")
    if not algorithm.anytime:
        anytime = sorted(name for name, entry in registry.index()["algorithms"].items() if entry.cls.anytime)
        raise BudgetError(f"model.budget_scope run: algorithm {algorithm.name!r} plans its rounds from its budget, "
                          f"so its searches cannot be given more; use an anytime algorithm ({', '.join(anytime)})")
    try:
        algorithm.check_clock(params)  # hyperparameters that fix what a search spends stop a run-wide budget too
    except UsageError as error:
        raise UsageError(f"model.budget_scope run cannot give algorithm {algorithm.name!r} more candidates: "
                         f"{str(error).split(': ', 1)[-1]}") from None


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
                   size: Optional[int], frames: Optional[int] = None) -> None:
    """Refuse preview settings nothing would use: the search decodes no preview (whole-pipeline mode, an algorithm
    of finished samples with no preview verifier), its family has no latents for a tiny autoencoder, or no latent
    frames to pick (``model.preview_frames``: and no verifier compares previews with their finished clips)."""
    asked = [name for name, value in (("model.preview_decoder", decoder), ("model.preview_size", size),
                                      ("model.preview_frames", frames)) if value is not None]
    if not asked:
        return
    if size is not None and (not isinstance(size, int) or size < 8):
        raise UsageError(f"model.preview_size {size!r}: give the previews' longer side in pixels (8 or more)")
    previews = not algorithm.initial_noises_only or any(v.preview_sigma is not None for v in verifiers)
    if runs_whole(family) or not previews:
        raise UsageError(f"{' and '.join(asked)}: this search decodes no x0-preview (algorithm {algorithm.name!r} "
                         "scores finished samples only and no verifier reads previews), so nothing would use it; "
                         "leave it unset")
    if frames is not None:
        check_preview_frames(family, verifiers, frames)
    if decoder is not None and not getattr(family, "latent_previews", False):
        raise UsageError(f"model.preview_decoder applies to latent diffusion pipelines (diffusers in native mode), "
                         f"not to {family.display_name()!r}; leave it unset (model.preview_size still applies)")


def check_preview_frames(family: Any, verifiers: Sequence[type], frames: int) -> None:
    """``model.preview_frames`` needs a video family in native mode, and no verifier that compares a preview with
    its finished clip frame by frame."""
    if not getattr(family, "frame_previews", False):
        raise UsageError(f"model.preview_frames applies to video pipelines of diffusers in native mode, not to "
                         f"{family.display_name()!r}; leave it unset")
    paired = [v.name for v in verifiers if v.preview_sigma is not None]
    if paired:
        raise UsageError(f"model.preview_frames: verifier {paired[0]!r} compares each preview with its finished clip "
                         "frame by frame, which needs every frame; leave model.preview_frames unset")


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
