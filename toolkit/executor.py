"""The executor: runs ask/tell searches, batching every search's candidates through the denoiser and verifiers."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch
from PIL import Image

from .algorithm import Outcome, Proposal, SearchAlgorithm, SearchContext
from .conditions import Condition
from .denoiser import CountingDenoiser
from .ensemble import mean_rank, oriented
from .journal import Journal
from .pipeline import Pipeline
from .sampling import calls_per_solve, solve
from .verifier import Verifier


@dataclass(frozen=True)
class SearchSettings:
    """Everything that fixes a search besides its condition: same settings and seed give the same result."""

    algorithm: type[SearchAlgorithm]
    params: SearchAlgorithm.Params
    budget_nfe: int
    steps: int
    sampler: str
    guidance: float
    batch_size: int
    height: int
    width: int
    seed: int

    def sample_nfe(self, pipeline: type[Pipeline]) -> int:
        """NFEs of one full solve of one sample at these settings."""
        return calls_per_solve(self.sampler, self.steps) * pipeline.nfe_per_call(self.guidance)


@dataclass(frozen=True)
class Task:
    """One search to run: its position in the run's condition list, the condition and the repeat number."""

    index: int
    condition: Condition
    repeat: int


@dataclass
class SearchResult:
    """The outcome of one search: the chosen sample, its initial noise, scores and cost."""

    task: Task
    candidate: int
    image: torch.Tensor
    noise: torch.Tensor
    score: float
    scores: dict[str, float]
    nfe: int
    candidates: int

    @property
    def pil(self) -> Image.Image:
        """The chosen image as a PIL image (8 bits per channel)."""
        array = (self.image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)

    def png_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.pil.save(buffer, format="PNG")
        return buffer.getvalue()


@dataclass
class _Search:
    task: Task
    context: SearchContext
    algorithm: SearchAlgorithm
    nfe: int = 0
    done: bool = False
    rows: list[dict[str, float]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    raw: dict[int, dict[str, float]] = field(default_factory=dict)
    images: dict[int, torch.Tensor] = field(default_factory=dict)
    noises: dict[int, torch.Tensor] = field(default_factory=dict)


class Executor:
    """Runs searches for many conditions at once; candidates of all of them share the model's batches."""

    def __init__(
        self,
        pipeline: Pipeline,
        verifiers: Sequence[Verifier],
        settings: SearchSettings,
        journal: Optional[Journal] = None,
    ):
        self.pipeline = pipeline
        self.verifiers = list(verifiers)
        self.settings = settings
        self.journal = journal
        self.sample_nfe = settings.sample_nfe(type(pipeline))
        nfe_per_call = type(pipeline).nfe_per_call(settings.guidance)
        self.denoiser = CountingDenoiser(self._denoise, nfe_per_call)
        self.sigmas = pipeline.sigmas(settings.steps)
        self.shape = pipeline.latent_shape(settings.height, settings.width)

    @property
    def nfe_used(self) -> int:
        return self.denoiser.nfe

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        return self.pipeline.denoise(x, sigma, cond, self.settings.guidance)

    def run(self, tasks: Sequence[Task]) -> list[SearchResult]:
        """Run one search per task to completion and return their results in task order."""
        distinct = list(dict.fromkeys(task.condition for task in tasks))
        encoded = self.pipeline.encode(distinct)
        slot = {condition: i for i, condition in enumerate(distinct)}
        searches = [self._start(task) for task in tasks]
        while True:
            pending: list[tuple[_Search, Proposal]] = []
            for search in searches:
                if search.done:
                    continue
                proposals = search.algorithm.ask()
                if not proposals:
                    search.done = True
                    continue
                self._charge(search, len(proposals))
                pending.extend((search, proposal) for proposal in proposals)
            if not pending:
                break
            outcomes = self._evaluate(pending, encoded, slot)
            for search in searches:
                told = [outcome for (owner, _), outcome in zip(pending, outcomes) if owner is search]
                if told:
                    search.algorithm.tell(told)
        return [self._finish(search) for search in searches]

    def _start(self, task: Task) -> _Search:
        context = SearchContext(
            seed=self.settings.seed,
            condition_key=task.condition.key,
            repeat=task.repeat,
            budget_nfe=self.settings.budget_nfe,
            sample_nfe=self.sample_nfe,
        )
        return _Search(task, context, self.settings.algorithm(self.settings.params, context))

    def _charge(self, search: _Search, count: int) -> None:
        cost = count * self.sample_nfe
        if search.nfe + cost > self.settings.budget_nfe:
            raise RuntimeError(
                f"algorithm {self.settings.algorithm.name!r} asked for {count} samples ({cost} NFEs) with "
                f"{self.settings.budget_nfe - search.nfe} NFEs of its budget left: a bug in the algorithm"
            )
        search.nfe += cost

    def _evaluate(self, pending, encoded, slot) -> list[Outcome]:
        outcomes: list[Outcome] = []
        size = self.settings.batch_size
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            outcomes.extend(self._evaluate_chunk(chunk, encoded, slot))
        return outcomes

    def _evaluate_chunk(self, chunk, encoded, slot) -> list[Outcome]:
        conditions = [search.task.condition for search, _ in chunk]
        noises = torch.stack([proposal.noise.build(self.shape) for _, proposal in chunk])
        index = torch.tensor([slot[condition] for condition in conditions])
        cond = self.pipeline.select(encoded, index)
        parameter = next(self.pipeline.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        dtype = parameter.dtype if parameter is not None else torch.float32
        sigmas = self.sigmas.to(device)
        x = self.pipeline.initial_latents(noises.to(device, dtype), sigmas)
        before = self.denoiser.nfe
        x0 = solve(self.denoiser, x, sigmas, cond, self.settings.sampler)
        nfe_each = (self.denoiser.nfe - before) // len(chunk)
        images = self.pipeline.decode(x0).float().clamp(0, 1)
        raw = self._score(images, conditions)
        records = []
        for i, (search, proposal) in enumerate(chunk):
            scores = {name: values[i] for name, values in raw.items()}
            search.raw[proposal.id] = scores
            search.rows.append(self._oriented(scores))
            search.ids.append(proposal.id)
            search.images[proposal.id] = images[i].cpu()
            search.noises[proposal.id] = noises[i]
            records.append(self._record(search, proposal, scores, nfe_each))
        aggregates = {id(search): dict(zip(search.ids, mean_rank(search.rows))) for search, _ in chunk}
        outcomes = [
            Outcome(proposal.id, aggregates[id(search)][proposal.id], search.raw[proposal.id], nfe_each)
            for search, proposal in chunk
        ]
        if self.journal is not None:
            self.journal.append(records)
        return outcomes

    def _score(self, images: torch.Tensor, conditions: list[Condition]) -> dict[str, list[float]]:
        raw: dict[str, list[float]] = {}
        for verifier in self.verifiers:
            parameter = next(verifier.parameters(), None)
            device = parameter.device if parameter is not None else images.device
            raw[verifier.name] = verifier.score(images.to(device), conditions).float().cpu().tolist()
        return raw

    def _oriented(self, scores: dict[str, float]) -> dict[str, float]:
        return {v.name: oriented(scores[v.name], v.higher_is_better) for v in self.verifiers}

    def _record(self, search: _Search, proposal: Proposal, scores: dict, nfe: int) -> dict:
        return {
            "type": "candidate",
            "search": search.task.condition.key,
            "repeat": search.task.repeat,
            "id": proposal.id,
            "parents": list(proposal.parents),
            "noise": proposal.noise.as_dict(),
            "scores": scores,
            "nfe": nfe,
        }

    def _finish(self, search: _Search) -> SearchResult:
        if not search.ids:
            raise RuntimeError(f"algorithm {self.settings.algorithm.name!r} ended a search without any candidate")
        aggregates = mean_rank(search.rows)
        best = max(range(len(search.ids)), key=lambda i: (aggregates[i], -i))
        candidate = search.ids[best]
        result = SearchResult(
            task=search.task,
            candidate=candidate,
            image=search.images[candidate],
            noise=search.noises[candidate],
            score=aggregates[best],
            scores=search.raw[candidate],
            nfe=search.nfe,
            candidates=len(search.ids),
        )
        if self.journal is not None:
            self.journal.append(
                [{"type": "result", "search": search.task.condition.key, "repeat": search.task.repeat,
                  "candidate": candidate, "score": result.score, "nfe": result.nfe}]
            )
        return result
