"""The engine's named types: a search's settings, a task to run, the result of one search, a rank's shard of the
work, what a loop did, and the error of an algorithm that breaks the ask/tell contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch

from ..algorithm import SearchAlgorithm
from ..conditions import Condition

if TYPE_CHECKING:
    from PIL import Image

    from ..pipeline import Family


@dataclass(frozen=True)
class SearchSettings:
    """Everything that fixes a search besides its condition: same settings and seed give the same result."""

    algorithm: type[SearchAlgorithm]
    params: SearchAlgorithm.Params
    budget_nfe: int
    steps: int
    sampler: str
    guidance: float
    batch_size: Optional[int]  # None: ``auto``
    height: int
    width: int
    seed: int
    ensemble: str = "rank"
    weights: Optional[tuple[float, ...]] = None
    preview_size: Optional[int] = None  # previews scored with their longer side at most this many pixels
    compile: str = "off"  # ``model.compile``: chunks are padded to one size so a compiled denoiser never recompiles
    budget_seconds: Optional[float] = None  # ``model.budget_seconds``: anytime searches stop asking when it is spent
    pad_chunks: bool = False  # ``model.pad_chunks``: every call padded to batch_size rows (results whatever the batch)
    baseline: bool = False  # ``model.baseline``: the first noise solved plainly where the algorithm does not
    frames: Optional[int] = None  # video: frames of each clip (None: not a video family)
    frame_rate: Optional[int] = None  # video families that take one
    clip_frames: int = 8  # video: frames an image verifier judges, evenly spaced
    clip_aggregate: str = "mean"  # video: how those frames' scores make the clip's
    share_nfe: Optional[int] = None  # ``model.budget_scope run``: each search's share of the run's budget
    guard_keep: float = 1.0  # ``model.guard``: the share of finished candidates, best by the guard, chosen among

    def sample_nfe(self, family: "Family") -> int:
        """NFEs of one full solve of one sample at these settings."""
        return sample_nfe(family, self.sampler, self.steps, self.guidance)


def sample_nfe(family: "Family", sampler: str, steps: int, guidance: float) -> int:
    """NFEs of one full solve of one sample: the sampler's calls, times 2 under classifier-free guidance."""
    return family.sample_calls(sampler, steps) * family.nfe_per_call(guidance)


@dataclass(frozen=True)
class Task:
    """One search to run: its position in the run's condition list, the condition and the repeat number."""

    index: int
    condition: Condition
    repeat: int


@dataclass
class SearchResult:
    """The outcome of one search: the chosen sample, its initial noise, scores and cost.

    ``replayable`` says whether ``noise`` alone regenerates ``image`` with the deterministic sampler (false when
    the chosen sample's path injected noise on the way: search over paths, SMC, beam).
    """

    task: Task
    candidate: int
    image: torch.Tensor
    noise: torch.Tensor
    score: float
    scores: dict[str, float]
    nfe: int
    candidates: int
    replayable: bool = True
    noise_seed: Optional[int] = None
    seconds: Optional[float] = None  # wall-clock, shared among the searches of a batch in proportion to their NFEs
    first_candidate: Optional[int] = None  # the search's first plain draw (no search would have returned it)
    first_scores: Optional[dict[str, float]] = None
    ties: int = 0  # other finished candidates whose aggregate equals the chosen one's (chosen by lower id)
    trace: Optional[dict] = None  # the algorithm's own account of the search (SearchAlgorithm.trace)
    baseline_nfe: int = 0  # NFEs of the no-search baseline solved beside the search (``model.baseline``), not its own

    def __repr__(self) -> str:
        return (f"SearchResult({self.task.condition.key!r}, repeat={self.task.repeat}, candidate={self.candidate}, "
                f"score={self.score:.6g}, scores={self.scores}, nfe={self.nfe}, candidates={self.candidates})")

    @property
    def pil(self) -> "Image.Image":
        """The chosen image as a PIL image (8 bits per channel)."""
        from ..imaging import to_pil

        return to_pil(self.image)


@dataclass(frozen=True)
class Shard:
    """This rank's share of every round when a search is sharded by candidates: ``todo[rank::world]``; ``gather``
    all-gathers a picklable object from every rank (the algorithm is replicated on each)."""

    rank: int
    world: int
    gather: Callable[[Any], list]


@dataclass(frozen=True)
class ExecutorStats:
    """The one record of what an executor did in this process."""

    nfe: int
    candidates: int
    denoiser_s: float
    verifier_s: dict[str, float]
    batch_size: Optional[int]
    auto: Optional[dict] = None  # ``batch_size auto``: the size chosen and the NFEs per second measured
    warmup_s: float = 0.0  # ``model.compile``: untimed first calls at each chunk size (compiling), apart from the rest


class AlgorithmError(RuntimeError):
    """An algorithm broke the ask/tell contract (over its budget, a repeated id, an unknown parent)."""
