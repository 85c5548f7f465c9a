"""The Pipeline protocol: a model family seen as a denoiser, its noise schedule, its conditioning and its decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import nn

from .conditions import Condition
from .errors import UsageError
from .sampling.frames import EDM, Frame


class Pipeline(nn.Module):
    """Base class of pipeline plugins; subclasses load weights in ``__init__`` and implement the four methods.

    Class attributes describe the family without loading it, so bad input fails before any weights load. A family
    whose description depends on the model (diffusers) returns a description object from ``for_source`` or
    ``for_object`` instead: it offers the same class-level interface and ``load``, and what it loads names it as
    ``described_by``.
    """

    name: ClassVar[str]
    condition_kind: ClassVar[str] = "class"
    num_classes: ClassVar[Optional[int]] = None
    class_names: ClassVar[Optional[tuple[str, ...]]] = None
    default_steps: ClassVar[int] = 20
    default_guidance: ClassVar[float] = 1.0
    default_sampler: ClassVar[str] = "heun"
    default_verifiers: ClassVar[tuple[str, ...]] = ()
    feature_verifier: ClassVar[Optional[str]] = None  # the world's own features for ``self-supervised`` unspecified
    default_height: ClassVar[int] = 64
    default_width: ClassVar[int] = 64
    whole: ClassVar[bool] = False  # runs whole from initial noises (``generate``) instead of a denoiser per step
    can_offload: ClassVar[bool] = False  # whether ``offload`` can keep parts on the CPU between their calls
    scheduler: ClassVar[Optional[str]] = None  # the family's own scheduler, when it samples with one
    other_mode_hint: ClassVar[str] = ""  # how to run what whole-pipeline mode refuses (appended to its refusals)

    def __init__(self, source: Optional[str] = None):
        super().__init__()
        self.source = source
        self.frame: Frame = EDM  # how the family's latent is scaled at each noise level (noisesearch.sampling.frames)

    @classmethod
    def claims(cls, folder: Path) -> bool:
        """Whether this family recognises a local folder as one of its models."""
        return False

    @classmethod
    def claims_spec(cls, spec: str) -> bool:
        """Whether this family recognises a spec that is no local folder (a hub id, a handed-over object)."""
        return False

    @classmethod
    def claims_object(cls, model: Any) -> bool:
        """Whether this family takes an already loaded model object handed over from Python."""
        return False

    @classmethod
    def for_source(cls, source: str) -> Any:
        """What describes the model at ``source`` before loading: this class, or a family's description object."""
        return cls

    @classmethod
    def for_object(cls, model: Any) -> Any:
        """What describes an already loaded model object (families that ``claims_object``)."""
        raise NotImplementedError

    @classmethod
    def load(cls, source: Optional[str]) -> "Pipeline":
        """Load the model at ``source`` (None: the family's own weights)."""
        return cls(source)

    @property
    def described_by(self) -> Any:
        """What described this pipeline before it loaded: its class, or the description object it was loaded from."""
        return self.__dict__.get("_described_by") or type(self)

    @classmethod
    def for_search(cls, mode: Optional[str], algorithm: type, verifiers: Sequence[type]) -> type["Pipeline"]:
        """The class that runs this search: families with several modes (diffusers: whole or native) pick here."""
        if mode == "whole":
            raise UsageError(f"pipeline {cls.name!r} has no whole-pipeline mode (only diffusers pipelines do); "
                             "leave model.mode unset")
        return cls

    @classmethod
    def display_name(cls) -> str:
        """The family's name in messages (a described model may give its own class name)."""
        return cls.name

    @classmethod
    def check_sampler(cls, sampler: str) -> None:
        """Raise a UsageError when the user's ``model.sampler`` does not apply to this family."""

    @classmethod
    def evaluation(cls):
        """The family's ``noisesearch.evaluation.Evaluation`` (an evaluator search never uses), or None."""
        return None

    @classmethod
    def nfe_per_call(cls, guidance: float) -> int:
        """Network evaluations per sample per denoiser call: 2 with classifier-free guidance, else 1."""
        return 1 if guidance == 1.0 else 2

    @classmethod
    def sample_calls(cls, sampler: str, steps: int) -> int:
        """Denoiser calls of one full solve with ``steps`` steps (a call under CFG is charged ``nfe_per_call``)."""
        from .sampling.samplers import sampler_class

        return sampler_class(sampler).solve_calls(steps)

    @classmethod
    def check_size(cls, height: int, width: int) -> None:
        """Raise a UsageError when the family cannot make images of this size."""

    @classmethod
    def check_conditions(cls, conditions: Sequence[Condition]) -> None:
        """Raise a UsageError for conditions this family cannot take (a prompt on a class model, a bad label)."""
        for condition in conditions:
            if condition.kind != cls.condition_kind:
                wanted = "data.classes" if cls.condition_kind == "class" else "data.prompts or data.prompts_file"
                raise UsageError(
                    f"pipeline {cls.name!r} is {cls.condition_kind}-conditional and got a {condition.kind}; "
                    f"use {wanted}"
                )
            if condition.kind == "class" and cls.num_classes is not None:
                if not 0 <= condition.class_label < cls.num_classes:
                    raise UsageError(
                        f"class {condition.class_label} is out of range for pipeline {cls.name!r}: "
                        f"use labels 0-{cls.num_classes - 1}"
                    )

    def generate(self, noises: torch.Tensor, conditions: Sequence[Condition], steps: int, guidance: float,
                 height: int, width: int, specs: Sequence[Any]) -> torch.Tensor:
        """Whole-pipeline families: images in [0, 1] made from initial noises (``specs``: their ``NoiseSpec``s)."""
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

    def configure(self, steps: int, guidance: float, height: int, width: int, sampler: str) -> None:
        """Fix a run's settings before its schedule is asked for (families whose schedule depends on the size)."""

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of one sample's initial noise, in the layout the family's pipeline takes as ``latents=``."""
        raise NotImplementedError

    def sigmas(self, steps: int) -> torch.Tensor:
        """The noise levels of a full solve, from the first level down to a final 0."""
        raise NotImplementedError

    def encode(self, conditions: Sequence[Condition]) -> Any:
        """Encode distinct conditions once per run; the result is indexed per sample with ``select``."""
        raise NotImplementedError

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any, guidance: float) -> torch.Tensor:
        """``D(x, sigma, cond) -> x0`` with classifier-free guidance ``guidance`` (1 means none)."""
        raise NotImplementedError

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Clean samples to images in [0, 1], shape (B, C, H, W)."""
        raise NotImplementedError

    def initial_latents(self, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """The solve's starting point from unit noise (``latents`` times the first noise level)."""
        return noise * sigmas[0]

    @staticmethod
    def select(encoded: Any, index: torch.Tensor) -> Any:
        """Pick per-sample rows of an encoding (a tensor or a dict of tensors)."""
        if isinstance(encoded, dict):
            return {key: Pipeline.select(value, index) for key, value in encoded.items()}
        return encoded[index.to(encoded.device)]
