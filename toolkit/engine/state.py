"""What the engine keeps per search between rounds: kept states, finished samples, scores and evaluations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from ..algorithm import SearchAlgorithm, SearchContext
from ..imaging import to_uint8
from ..store.records import EARLIER, EARLIER_LEVEL, GRADIENT, IMAGE8, PREVIEW, ROOT, THUMB, X, X0
from .types import Task


@dataclass
class KeptState:
    """A stopped candidate: x at ``level``, its x0-prediction there, and its root noise (search over paths, SMC)."""

    x: torch.Tensor
    level: float
    x0: torch.Tensor
    root: torch.Tensor
    replayable: bool
    preview: Optional[torch.Tensor] = None
    earlier: Optional[tuple[float, torch.Tensor]] = None  # the level before and its x0 (multistep samplers)


@dataclass
class Finished:
    """A fully denoised candidate: its image, root noise, and the seed of its noise when it was a plain draw."""

    image: Optional[torch.Tensor]  # None when the journal dropped it (``keep_images``): never a search's best
    root: torch.Tensor
    replayable: bool
    noise_seed: Optional[int]


@dataclass
class Evaluated:
    """One evaluated proposal: computed here, replayed from the journal, or from another rank."""

    scores: dict[str, float]
    nfe: int
    root: torch.Tensor
    replayable: bool
    x: Optional[torch.Tensor] = None
    x0: Optional[torch.Tensor] = None
    image: Optional[torch.Tensor] = None
    gradient: Optional[torch.Tensor] = None
    preview: Optional[torch.Tensor] = None
    earlier: Optional[torch.Tensor] = None
    earlier_level: Optional[float] = None
    thumb: Optional[torch.Tensor] = None

    def tensors(self, keep_image: bool = True) -> dict[str, torch.Tensor]:
        """The tensors a journal artifact keeps (on the CPU); the image as 8 bits, lossless against its PNG."""
        image = to_uint8(self.image) if keep_image and self.image is not None else None
        named = {ROOT: self.root, X: self.x, X0: self.x0, IMAGE8: image, GRADIENT: self.gradient,
                 PREVIEW: self.preview, EARLIER: self.earlier, THUMB: self.thumb,
                 EARLIER_LEVEL: None if self.earlier_level is None else torch.tensor(self.earlier_level)}
        return {key: value.detach().cpu().contiguous() for key, value in named.items() if value is not None}

    def to_cpu(self) -> "Evaluated":
        """A copy whose tensors live on the CPU (to hand to other ranks)."""
        moved = {key: (value.detach().cpu() if isinstance(value, torch.Tensor) else value)
                 for key, value in self.__dict__.items()}
        return Evaluated(**moved)


@dataclass
class SearchRun:
    """One search in progress: its task, algorithm, NFEs charged, and every candidate it has evaluated."""

    task: Task
    context: SearchContext
    algorithm: SearchAlgorithm
    nfe: int = 0
    done: bool = False
    asked: set[int] = field(default_factory=set)
    costs: dict[int, int] = field(default_factory=dict)  # NFEs charged for each proposal
    levels: dict[float, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    raw: dict[int, dict[str, float]] = field(default_factory=dict)
    states: dict[int, KeptState] = field(default_factory=dict)
    finished: dict[int, Finished] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        """The search's identity in the journal: (condition key, repeat)."""
        return self.task.condition.key, self.task.repeat
