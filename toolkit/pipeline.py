"""A model family before it loads (``Family``, as diffusers' config beside its model) and the loaded ``Pipeline``:
a denoiser, its noise schedule, its conditioning and its decoder, configured once per run (``RunSpec``).

Plugins register ``Family`` subclasses: the description, the finder (which folders, specs and objects it takes) and
``load``. A ``Pipeline`` subclass registered as its own family (its class attributes and classmethods the
description, read through ``ClassFamily``) is the route of plugin API 2, kept with a warning until noisesearch
0.4 (CHANGELOG.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import nn

from .conditions import Condition
from .errors import UsageError
from .sampling.frames import EDM, Frame


@dataclass(frozen=True)
class RunSpec:
    """What a run fixes for its pipeline, handed over once (``Pipeline.configure``) instead of to every call."""

    steps: int
    guidance: float
    height: int
    width: int
    sampler: str
    frames: Optional[int] = None  # video families: frames of each clip
    frame_rate: Optional[int] = None  # video families that take a frame rate (LTX-Video)

    @classmethod
    def of(cls, settings: Any) -> "RunSpec":
        """The run spec of search settings (or anything with the same fields)."""
        return cls(settings.steps, settings.guidance, settings.height, settings.width, settings.sampler,
                   getattr(settings, "frames", None), getattr(settings, "frame_rate", None))


DESCRIPTION = ("name", "latent_previews",
               "condition_kind", "num_classes", "class_names", "default_steps", "default_guidance",
               "default_sampler", "default_verifiers", "feature_verifier", "default_height", "default_width", "whole",
               "can_offload", "scheduler", "other_mode_hint", "default_frames", "default_frame_rate")


class Family:
    """What a model family is before anything loads: its defaults and kind of condition, which models it takes
    (the finder: ``claims``, ``claims_spec``, ``claims_object``, ``for_source``, ``for_object``), the checks of a
    run's settings against it, its NFE costs, and ``load``. Plugins register the class; a family whose description
    depends on the model (diffusers) returns an instance of its own from ``for_source`` or ``for_object``."""

    name: str = "pipeline"
    condition_kind: str = "class"
    num_classes: Optional[int] = None
    class_names: Optional[tuple[str, ...]] = None
    default_steps: int = 20
    default_guidance: float = 1.0
    default_sampler: str = "heun"
    default_verifiers: tuple[str, ...] = ()
    feature_verifier: Optional[str] = None  # the world's own features for ``self-supervised`` unspecified
    default_height: int = 64
    default_width: int = 64
    whole: bool = False  # runs whole from initial noises (``generate``) instead of a denoiser per step
    can_offload: bool = False  # whether ``offload`` can keep parts on the CPU between their calls
    scheduler: Optional[str] = None  # the family's own scheduler, when it samples with one
    other_mode_hint: str = ""  # how to run what whole-pipeline mode refuses (appended to its refusals)
    latent_previews: bool = False  # previews are latents a tiny autoencoder can decode (``model.preview_decoder``)
    frame_previews: bool = False  # video previews can be decoded from some latent frames (``model.preview_frames``)
    default_frames: Optional[int] = None  # video families: the clip length their pipeline makes by default
    default_frame_rate: Optional[int] = None  # video families that take a frame rate: its default
    pipeline_class: ClassVar[Optional[type["Pipeline"]]] = None  # what ``load`` makes, when it makes one class

    def __init_subclass__(cls, pipeline: Optional[type["Pipeline"]] = None, **kwargs: Any):
        """``class MyFamily(Family, pipeline=MyPipeline)``: the family loads that class, and that class made
        directly knows its family."""
        super().__init_subclass__(**kwargs)
        if pipeline is not None:
            cls.pipeline_class = pipeline
            pipeline.family_class = cls

    @classmethod
    def claims(cls, folder: Path) -> bool:
        """Whether this family recognises a local folder as one of its models."""
        return False

    @classmethod
    def claims_spec(cls, spec: str) -> bool:
        """Whether this family recognises a spec that is no local folder (a hub id)."""
        return False

    @classmethod
    def claims_object(cls, model: Any) -> bool:
        """Whether this family takes an already loaded model object handed over from Python."""
        return False

    @classmethod
    def for_source(cls, source: str) -> "Family":
        """The family of the model at ``source`` (a folder or spec it claims), before loading it."""
        return cls()

    @classmethod
    def for_object(cls, model: Any) -> "Family":
        """The family of an already loaded model object (families that ``claims_object``)."""
        raise NotImplementedError

    def display_name(self) -> str:
        """The family's name in messages (a described model may give its own class name)."""
        return self.name

    def for_search(self, mode: Optional[str], algorithm: type, verifiers: Sequence[type]) -> "Family":
        """The family that runs this search: families with several modes (diffusers: whole or native) pick here."""
        if mode == "whole":
            raise UsageError(f"pipeline {self.name!r} has no whole-pipeline mode (only diffusers pipelines do); "
                             "leave model.mode unset")
        return self

    def check_sampler(self, sampler: str) -> None:
        """Raise a UsageError when the user's ``model.sampler`` does not apply to this family."""

    def check_size(self, height: int, width: int) -> None:
        """Raise a UsageError when the family cannot make images of this size."""

    def check_frames(self, frames: Optional[int], frame_rate: Optional[int]) -> None:
        """Raise a UsageError when the family cannot make clips of ``frames`` frames (at ``frame_rate``)."""
        if self.default_frames is None and (frames is not None or frame_rate is not None):
            raise UsageError(f"model.frames and model.frame_rate apply to video pipelines; {self.display_name()} "
                             "makes images: leave them unset")
        if frame_rate is not None and self.default_frame_rate is None:
            raise UsageError(f"{self.display_name()} takes no frame rate; leave model.frame_rate unset")

    def check_conditions(self, conditions: Sequence[Condition]) -> None:
        """Raise a UsageError for conditions this family cannot take (a prompt on a class model, a bad label)."""
        for condition in conditions:
            if condition.kind != self.condition_kind:
                wanted = "data.classes" if self.condition_kind == "class" else "data.prompts or data.prompts_file"
                raise UsageError(f"pipeline {self.name!r} is {self.condition_kind}-conditional and got a "
                                 f"{condition.kind}; use {wanted}")
            if condition.kind == "class" and self.num_classes is not None:
                if not 0 <= condition.class_label < self.num_classes:
                    raise UsageError(f"class {condition.class_label} is out of range for pipeline {self.name!r}: "
                                     f"use labels 0-{self.num_classes - 1}")

    def nfe_per_call(self, guidance: float) -> int:
        """Network evaluations per sample per denoiser call: 2 with classifier-free guidance, else 1."""
        return 1 if guidance == 1.0 else 2

    def sample_calls(self, sampler: str, steps: int) -> int:
        """Denoiser calls of one full solve with ``steps`` steps (a call under CFG is charged ``nfe_per_call``)."""
        from .sampling.samplers import sampler_class

        return sampler_class(sampler).solve_calls(steps)

    def evaluation(self):
        """The family's ``noisesearch.evaluation.Evaluation`` (an evaluator search never uses), or None."""
        return None

    def load(self, source: Optional[str]) -> "Pipeline":
        """Load the model at ``source`` (None: the family's own weights): its ``pipeline_class`` made from it."""
        if self.pipeline_class is None:
            raise NotImplementedError(f"family {self.name!r} names no pipeline_class and does not override load")
        return self.made(self.pipeline_class(source))

    def made(self, pipeline: "Pipeline") -> "Pipeline":
        """``pipeline`` (just loaded) named as made by this family."""
        pipeline.family = self
        return pipeline


class ClassFamily(Family):
    """The family of a ``Pipeline`` subclass registered as its own family (plugin API 2): its class attributes and
    classmethods, read here. A route kept until noisesearch 0.4; register a ``Family`` instead."""

    def __init__(self, cls: type["Pipeline"]):
        self.cls = cls
        for name in DESCRIPTION:
            setattr(self, name, getattr(cls, name, getattr(Family, name)))

    def __repr__(self) -> str:
        return f"ClassFamily({self.cls.__name__})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassFamily) and other.cls is self.cls

    def __hash__(self) -> int:
        return hash(self.cls)

    def display_name(self) -> str:
        return self.cls.display_name()

    def for_search(self, mode: Optional[str], algorithm: type, verifiers: Sequence[type]) -> Family:
        return family_of(self.cls.for_search(mode, algorithm, verifiers))

    def check_sampler(self, sampler: str) -> None:
        self.cls.check_sampler(sampler)

    def check_size(self, height: int, width: int) -> None:
        self.cls.check_size(height, width)

    def check_frames(self, frames: Optional[int], frame_rate: Optional[int]) -> None:
        Family.check_frames(self, frames, frame_rate)  # the description read from the class (API 2: no video)

    def check_conditions(self, conditions: Sequence[Condition]) -> None:
        self.cls.check_conditions(conditions)

    def nfe_per_call(self, guidance: float) -> int:
        return self.cls.nfe_per_call(guidance)

    def sample_calls(self, sampler: str, steps: int) -> int:
        return self.cls.sample_calls(sampler, steps)

    def evaluation(self):
        return self.cls.evaluation()

    def load(self, source: Optional[str]) -> "Pipeline":
        return self.made(self.cls.load(source))


def family_of(described: Any) -> Family:
    """The family object of what a plugin registers or returns: a ``Family`` subclass gets an instance, a
    ``Pipeline`` class its ``ClassFamily`` (plugin API 2); a family object is taken as it is."""
    if isinstance(described, type) and issubclass(described, Family):
        return described()
    if isinstance(described, type) and issubclass(described, Pipeline):
        return ClassFamily(described)
    return described


class Pipeline(nn.Module):
    """Base class of a loaded model: subclasses load weights in ``__init__`` and implement ``latent_shape``,
    ``sigmas``, ``encode``, ``denoise`` and ``decode`` (or ``generate``, for families that run whole).

    What loads it names it as ``family``; one made directly is described by its ``family_class`` (a ``Family``
    subclass). The class attributes and classmethods below describe a ``Pipeline`` registered as its own family
    (plugin API 2, read through ``ClassFamily``); they stay until noisesearch 0.4.
    """

    family_class: ClassVar[Optional[type[Family]]] = None  # the family of a pipeline made directly (not loaded)

    name: ClassVar[str] = "pipeline"
    condition_kind: ClassVar[str] = "class"
    num_classes: ClassVar[Optional[int]] = None
    class_names: ClassVar[Optional[tuple[str, ...]]] = None
    default_steps: ClassVar[int] = 20
    default_guidance: ClassVar[float] = 1.0
    default_sampler: ClassVar[str] = "heun"
    default_verifiers: ClassVar[tuple[str, ...]] = ()
    feature_verifier: ClassVar[Optional[str]] = None
    default_height: ClassVar[int] = 64
    default_width: ClassVar[int] = 64
    whole: ClassVar[bool] = False
    can_offload: ClassVar[bool] = False
    scheduler: ClassVar[Optional[str]] = None
    other_mode_hint: ClassVar[str] = ""
    latent_previews: ClassVar[bool] = False

    # the API 2 description: the same rules as ``Family``'s, read from the class
    claims = Family.__dict__["claims"]
    claims_spec = Family.__dict__["claims_spec"]
    claims_object = Family.__dict__["claims_object"]
    check_sampler = classmethod(Family.check_sampler)
    check_size = classmethod(Family.check_size)
    check_conditions = classmethod(Family.check_conditions)
    nfe_per_call = classmethod(Family.nfe_per_call)
    sample_calls = classmethod(Family.sample_calls)
    evaluation = classmethod(Family.evaluation)
    display_name = classmethod(Family.display_name)
    for_search = classmethod(Family.for_search)  # API 2: the class that runs this search (this class)

    def __init__(self, source: Optional[str] = None):
        super().__init__()
        self.source = source
        self.frame: Frame = EDM  # how the family's latent is scaled at each noise level (noisesearch.sampling.frames)
        family = self.family
        self.run = RunSpec(family.default_steps, family.default_guidance, family.default_height,
                           family.default_width, family.default_sampler)  # until ``configure`` hands the run's own

    @classmethod
    def for_source(cls, source: str) -> Any:
        """API 2: what describes the model at ``source`` before loading (this class)."""
        return cls

    @classmethod
    def for_object(cls, model: Any) -> Any:
        """API 2: what describes an already loaded model object."""
        raise NotImplementedError

    @classmethod
    def load(cls, source: Optional[str]) -> "Pipeline":
        """API 2: load the model at ``source`` (None: the family's own weights)."""
        return cls(source)


    @property
    def family(self) -> Family:
        """What described this pipeline before it loaded: the family it was loaded from; for one made directly,
        its ``family_class`` (or, for a pipeline of plugin API 2, its ``ClassFamily``)."""
        found = self.__dict__.get("_family")
        if found is None:
            found = type(self).family_class() if type(self).family_class is not None else ClassFamily(type(self))
            self.__dict__["_family"] = found
        return found

    @family.setter
    def family(self, family: Family) -> None:
        self.__dict__["_family"] = family

    def generate(self, noises: torch.Tensor, conditions: Sequence[Condition], specs: Sequence[Any]) -> torch.Tensor:
        """Whole-pipeline families: images in [0, 1] made from initial noises (``specs``: their ``NoiseSpec``s) at
        the configured run's steps, guidance and size."""
        raise NotImplementedError

    def placement(self) -> tuple[torch.device, torch.dtype]:
        """Where the sampler's latents live: the first parameter's device and dtype (CPU float32 without any)."""
        parameter = next(self.parameters(), None)
        if parameter is None:
            return torch.device("cpu"), torch.float32
        return parameter.device, parameter.dtype

    def offload(self, device: torch.device) -> None:
        """Keep the parts on the CPU and move each to ``device`` only while it runs (families with ``can_offload``)."""
        raise NotImplementedError

    def configure(self, run: RunSpec) -> None:
        """Take a run's steps, guidance, size and sampler once, before its schedule is asked for (families whose
        schedule depends on the size extend this, calling it first)."""
        self.run = run

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of one sample's initial noise, in the layout the family's pipeline takes as ``latents=``."""
        raise NotImplementedError

    def sigmas(self, steps: int) -> torch.Tensor:
        """The noise levels of a full solve, from the first level down to a final 0."""
        raise NotImplementedError

    def encode(self, conditions: Sequence[Condition]) -> Any:
        """Encode distinct conditions once per run; the result is indexed per sample with ``select``."""
        raise NotImplementedError

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        """``D(x, sigma, cond) -> x0`` with the configured run's classifier-free guidance (1 means none)."""
        raise NotImplementedError

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Clean samples to images in [0, 1], shape (B, C, H, W)."""
        raise NotImplementedError

    def decode_preview(self, x0: torch.Tensor, size: Optional[int] = None) -> torch.Tensor:
        """An x0-preview (Ma et al. 2025, section 3.2) as images in [0, 1], the longer side at most ``size``
        (``model.preview_size``): ``decode``, then scaled down. Latent families decode with the tiny autoencoder
        ``attach_preview_decoder`` gave, at the lower size already."""
        from .imaging import shrunk

        return shrunk(self.decode(x0), size)

    def limit_preview_frames(self, frames: int) -> None:
        """Decode a video's previews from ``frames`` of its latent frames (``model.preview_frames``; families with
        ``frame_previews``)."""
        raise UsageError(f"model.preview_frames applies to video pipelines of diffusers in native mode, not to "
                         f"{self.family.display_name()!r}; leave it unset")

    def attach_preview_decoder(self, source: str) -> None:
        """Decode previews with the tiny autoencoder at ``source`` (``model.preview_decoder``; families with
        ``latent_previews``)."""
        raise UsageError(f"model.preview_decoder applies to latent diffusion pipelines (diffusers in native mode), not "
                         f"to {self.family.display_name()!r}; leave it unset")

    def denoiser_network(self) -> Optional[nn.Module]:
        """The network every denoiser call runs (what ``model.compile`` compiles), or None where there is none."""
        return None

    def initial_latents(self, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """The solve's starting point from unit noise (``latents`` times the first noise level)."""
        return noise * sigmas[0]

    @staticmethod
    def select(encoded: Any, index: torch.Tensor) -> Any:
        """Pick per-sample rows of an encoding (a tensor or a dict of tensors)."""
        if isinstance(encoded, dict):
            return {key: Pipeline.select(value, index) for key, value in encoded.items()}
        return encoded[index.to(encoded.device)]

    @staticmethod
    def join(parts: Sequence[Any]) -> Any:
        """Encodings of several ``encode`` calls as one, rows in order (searches that joined a running loop at
        different times share a chunk): tensors concatenated, dicts key by key, lists one after another."""
        first = parts[0]
        if isinstance(first, dict):
            return {key: Pipeline.join([part[key] for part in parts]) for key in first}
        if isinstance(first, (list, tuple)):
            return [row for part in parts for row in part]
        return torch.cat([part.to(first.device) for part in parts])
