"""The Verifier protocol: V(sample, condition) -> score (Ma et al. 2025, section 3), batched and batch-invariant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence

import torch
from torch import nn

from .conditions import Condition
from .errors import UsageError
from .evaluation import Evaluation

if TYPE_CHECKING:
    from .pipeline import RunSpec


@dataclass
class Latents:
    """What a search holds of a candidate stopped above level 0, for verifiers that read it undecoded: the latent
    ``x`` at level ``sigma``, the denoiser's x0-prediction there, and the rows of the pipeline's encoded condition."""

    x: torch.Tensor
    x0: torch.Tensor
    sigma: float
    cond: Any


class Verifier(nn.Module):
    """Base class of verifier plugins: ``score(images, conditions)`` returns one float per image.

    A verifier that compares the final sample with the x0-preview at a noise level (the paper's self-supervised
    verifier) sets ``preview_sigma``; the executor then calls ``score(images, conditions, previews=...)``.
    A verifier that reads noisy latents (an early verifier: TTSnap, arXiv 2511.22242) sets ``reads_latents``: a
    candidate stopped above level 0 is then scored by ``score_latents`` undecoded, a finished one by ``score``.
    Given clips (a video family), a verifier judges frames (``model.clip_frames``), their scores combined by
    ``model.clip_aggregate``; one that sets ``watches_clips`` gets the whole clips (B, F, C, H, W) instead.
    """

    name: ClassVar[str]
    condition_kinds: ClassVar[tuple[str, ...]] = ("class", "prompt")
    higher_is_better: ClassVar[bool] = True
    differentiable: ClassVar[bool] = False
    preview_sigma: ClassVar[Optional[float]] = None
    reads_latents: ClassVar[bool] = False
    watches_clips: ClassVar[bool] = False

    def __init__(self, spec: Optional[str] = None):
        super().__init__()
        self.spec = spec

    @classmethod
    def check_conditions(cls, kind: str) -> None:
        """Raise a UsageError if this verifier cannot judge samples conditioned on ``kind``."""
        if kind not in cls.condition_kinds:
            raise UsageError(
                f"verifier {cls.name!r} judges {' or '.join(cls.condition_kinds)} conditions, not {kind} conditions; "
                "pick a verifier for this pipeline (see `noisesearch list`)"
            )

    def attach(self, pipeline: type) -> None:
        """Learn what the verifier needs from the pipeline family (class names, say); raise a UsageError if unfit."""

    def check_run(self, run: "RunSpec", sigmas: torch.Tensor) -> None:
        """Raise a UsageError when the verifier cannot score a search run with these settings and noise levels (an
        early verifier: those it was distilled at)."""

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        """Scores of images in [0, 1] (B, C, H, W) against their conditions, one float per image."""
        raise NotImplementedError

    def score_latents(self, latents: Latents, conditions: Sequence[Condition]) -> torch.Tensor:
        """Verifiers with ``reads_latents``: scores of candidates stopped at ``latents.sigma``, one float each."""
        raise NotImplementedError

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Optional: image features of the verifier's network, (B, D); ``self-supervised:NAME`` compares them."""
        raise NotImplementedError

    def evaluation(self) -> Optional[Evaluation]:
        """Optional: the same checks as a ``noisesearch bench`` evaluator (a verdict per image), e.g. ``geneval``."""
        return None

    @classmethod
    def convert_checkpoint(cls, tensors: dict[str, torch.Tensor], folder, **options) -> None:
        """Optional: write the folder this verifier loads from a published checkpoint's tensors
        (``noisesearch convert FILE DIR --to NAME``)."""
        raise UsageError(f"verifier {cls.name!r} has no checkpoint converter; `noisesearch convert --help` lists "
                         "the conversions there are")

    @classmethod
    def has_features(cls) -> bool:
        """Whether the verifier offers ``features`` (and so can serve ``self-supervised:NAME``)."""
        return cls.features is not Verifier.features


def parse_options(
    name: str, argument: Optional[str], defaults: Mapping[str, Optional[str]], positional: Optional[str] = None
) -> dict[str, Optional[str]]:
    """Options of a ``name:argument`` spec: ``key=value,key=value``, or one bare value for ``positional``.

    ``clip:local-dir:/models/clip`` gives ``{"model": "local-dir:/models/clip"}`` when ``positional`` is ``model``.
    """
    options = dict(defaults)
    if not argument:
        return options
    first = argument.split(",", 1)[0]
    if "=" not in first or first.split("=", 1)[0] not in defaults:
        if positional is None:
            raise UsageError(f"verifier {name!r} takes key=value options ({', '.join(defaults)}), got {argument!r}")
        options[positional] = argument
        return options
    for item in argument.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise UsageError(f"verifier {name!r}: unknown option {item!r}; its options: {', '.join(defaults)}")
        options[key] = value
    return options
