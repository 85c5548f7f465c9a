"""What the engine keeps per search between rounds: kept states, finished samples, scores and evaluations."""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import torch

from ..algorithm import SearchAlgorithm, SearchContext
from ..ensemble import oriented
from ..imaging import to_uint8
from ..store.records import EARLIER, EARLIER_LEVEL, GRADIENT, IMAGE8, PREVIEW, ROOT, THUMB, X, X0
from .baseline import BASELINE
from .types import Task

GUARD = " guard"  # the guard's oriented score beside the driving verifiers' (a name no verifier has)

if TYPE_CHECKING:
    from ..algorithm import Proposal
    from .source import Cohort


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
    earlier_level: Any = None  # the multistep history's level (UniPC: its two levels)
    thumb: Optional[torch.Tensor] = None

    def tensors(self, keep_image: bool = True) -> dict[str, torch.Tensor]:
        """The tensors a journal artifact keeps (on the CPU); the image as 8 bits, lossless against its PNG."""
        image = to_uint8(self.image) if keep_image and self.image is not None else None
        named = {ROOT: self.root, X: self.x, X0: self.x0, IMAGE8: image, GRADIENT: self.gradient,
                 PREVIEW: self.preview, EARLIER: self.earlier, THUMB: self.thumb,
                 EARLIER_LEVEL: None if self.earlier_level is None else torch.tensor(self.earlier_level,
                                                                                     dtype=torch.float64)}
        return {key: value.detach().cpu().contiguous() for key, value in named.items() if value is not None}

    def to_cpu(self) -> "Evaluated":
        """A copy whose tensors live on the CPU (to hand to other ranks)."""
        moved = {key: (value.detach().cpu() if isinstance(value, torch.Tensor) else value)
                 for key, value in self.__dict__.items()}
        return Evaluated(**moved)


@dataclass(eq=False)
class SearchRun:
    """One search in progress: its task, algorithm and cohort (its settings, verifiers and journal), NFEs charged,
    and every candidate it has evaluated."""

    task: Task
    context: SearchContext
    algorithm: SearchAlgorithm
    cohort: Optional["Cohort"] = None
    nfe: int = 0
    evaluated: int = 0  # NFEs of its proposals evaluated so far (per chunk: what a job's progress reads)
    done: bool = False
    asked: set[int] = field(default_factory=set)
    costs: dict[int, int] = field(default_factory=dict)  # NFEs charged for each proposal
    levels: dict[float, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    raw: dict[int, dict[str, float]] = field(default_factory=dict)
    states: dict[int, KeptState] = field(default_factory=dict)
    finished: dict[int, Finished] = field(default_factory=dict)
    told: Optional[tuple[tuple, dict[int, float]]] = None  # (level, count) and the aggregates of that level then
    baseline: Optional[Finished] = None  # the no-search baseline (``model.baseline``): never told, never chosen
    baseline_scores: Optional[dict[str, float]] = None

    @property
    def key(self) -> tuple[str, int]:
        """The search's identity in the journal: (condition key, repeat)."""
        return self.task.condition.key, self.task.repeat

    @property
    def settings(self) -> Any:
        return self.cohort.settings

    @property
    def scorer(self) -> Any:
        return self.cohort.scorer

    @property
    def recorder(self) -> Any:
        return self.cohort.recorder

    @property
    def baseline_nfe(self) -> int:
        """NFEs of the no-search baseline, charged apart from the budget (0 without one)."""
        return self.costs.get(BASELINE, 0)

    def count_evaluated(self, proposal_id: int) -> None:
        """A proposal's NFEs evaluated (what a job's progress reads; the no-search baseline is not the search's)."""
        if proposal_id != BASELINE:
            self.evaluated += self.costs[proposal_id]

    def integrate(self, proposal: "Proposal", evaluation: Evaluated, device: torch.device, dtype: torch.dtype) -> None:
        """Keep an evaluation: a stopped candidate's state (on the pipeline's device), or a finished sample; and
        its oriented scores among those of its level (an unscored state: never preferred, never warned of); the
        no-search baseline is kept apart."""
        if proposal.id == BASELINE:
            self.baseline = Finished(evaluation.image, evaluation.root, evaluation.replayable,
                                     proposal.noise.fresh_seed)
            self.baseline_scores = evaluation.scores
            return
        self.raw[proposal.id] = evaluation.scores
        if proposal.stop > 0:
            earlier = None if evaluation.earlier is None else (evaluation.earlier_level,
                                                               evaluation.earlier.to(device, dtype))
            preview = evaluation.preview.to(device, dtype) if evaluation.preview is not None else None
            self.states[proposal.id] = KeptState(evaluation.x.to(device, dtype), proposal.stop,
                                                 evaluation.x0.to(device, dtype), evaluation.root,
                                                 evaluation.replayable, preview, earlier)
        else:
            self.finished[proposal.id] = Finished(evaluation.image, evaluation.root, evaluation.replayable,
                                                  proposal.noise.fresh_seed if proposal.is_fresh else None)
        row = (self.scorer.oriented(evaluation.scores) if proposal.scored or proposal.stop == 0
               else {name: -math.inf for name in evaluation.scores})
        self.levels.setdefault(proposal.stop, []).append((proposal.id, row))
        if proposal.stop == 0:
            self._let_go_of_beaten(proposal.id, row)

    def _let_go_of_beaten(self, new: int, row: dict[str, float]) -> None:
        """Let go of the images of finished candidates another beats on every verifier (the guard's included): no
        ensemble can choose them, so a search holds few samples however many it makes (clips are large)."""
        row = self._with_guard(new, row)
        for other, other_row in self.levels[0.0][:-1]:
            kept = self.finished.get(other)
            if kept is None or kept.image is None:
                continue
            other_row = self._with_guard(other, other_row)
            if all(other_row[name] > value for name, value in row.items()):
                self.finished[new].image = None
                return
            if all(value > other_row[name] for name, value in row.items()):
                kept.image = None

    def _with_guard(self, candidate: int, row: dict[str, float]) -> dict[str, float]:
        """A candidate's oriented scores with the guard's beside them (``model.guard``), as the final choice reads
        them."""
        guard = self.scorer.guard
        if guard is None:
            return row
        return {**row, GUARD: oriented(self.raw[candidate].get(guard.name, math.nan), guard.higher_is_better)}
