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
from .errors import UsageError
from .journal import Journal
from .pipeline import Pipeline
from .sampling import ancestral_step, calls_per_solve, renoise, sigmas_between, solve
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
class _State:
    """A kept intermediate sample: x at ``level``, its x0-prediction there, and its root noise."""

    x: torch.Tensor
    level: float
    x0: torch.Tensor
    root: torch.Tensor
    replayable: bool


@dataclass
class _Search:
    task: Task
    context: SearchContext
    algorithm: SearchAlgorithm
    nfe: int = 0
    done: bool = False
    levels: dict[float, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    raw: dict[int, dict[str, float]] = field(default_factory=dict)
    states: dict[int, _State] = field(default_factory=dict)
    finals: dict[int, tuple[torch.Tensor, torch.Tensor, bool]] = field(default_factory=dict)


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
        self.nfe_per_call = type(pipeline).nfe_per_call(settings.guidance)
        self.denoiser = CountingDenoiser(self._denoise, self.nfe_per_call)
        self.sigmas = pipeline.sigmas(settings.steps)
        self.shape = pipeline.latent_shape(settings.height, settings.width)
        settings.algorithm.check_context(settings.params, self._context(Task(0, Condition(prompt="probe"), 0)))

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
                self._charge(search, proposals)
                pending.extend((search, proposal) for proposal in proposals)
            if not pending:
                break
            outcomes = self._evaluate(pending, encoded, slot)
            for search in searches:
                told = [outcomes[id(proposal)] for owner, proposal in pending if owner is search]
                if told:
                    search.algorithm.tell(told)
        return [self._finish(search) for search in searches]

    def _start(self, task: Task) -> _Search:
        context = self._context(task)
        return _Search(task, context, self.settings.algorithm(self.settings.params, context))

    def _context(self, task: Task) -> SearchContext:
        return SearchContext(
            seed=self.settings.seed,
            condition_key=task.condition.key,
            repeat=task.repeat,
            budget_nfe=self.settings.budget_nfe,
            sample_nfe=self.sample_nfe,
            sigmas=tuple(float(s) for s in self.sigmas),
            sampler=self.settings.sampler,
            nfe_per_call=self.nfe_per_call,
            shape=tuple(self.shape),
        )

    def _cost(self, search: _Search, proposal: Proposal) -> int:
        level = None
        if proposal.start is not None:
            if proposal.start not in search.states:
                raise RuntimeError(f"proposal {proposal.id} continues candidate {proposal.start}, which kept no state")
            level = search.states[proposal.start].level
        return search.context.cost(level, proposal.stop, proposal.renoise_to, proposal.stochastic, proposal.gradient)

    def _charge(self, search: _Search, proposals: list[Proposal]) -> None:
        cost = sum(self._cost(search, proposal) for proposal in proposals)
        if search.nfe + cost > self.settings.budget_nfe:
            raise RuntimeError(
                f"algorithm {self.settings.algorithm.name!r} asked for {cost} NFEs with "
                f"{self.settings.budget_nfe - search.nfe} NFEs of its budget left: a bug in the algorithm"
            )
        search.nfe += cost

    def _evaluate(self, pending, encoded, slot) -> dict[int, Outcome]:
        groups: dict[tuple, list[tuple[_Search, Proposal]]] = {}
        for search, proposal in pending:
            level = search.states[proposal.start].level if proposal.start is not None else None
            key = (level, proposal.renoise_to, proposal.stochastic, proposal.stop, proposal.gradient)
            groups.setdefault(key, []).append((search, proposal))
        outcomes: dict[int, Outcome] = {}
        size = self.settings.batch_size
        for (level, _, _, _, _), members in groups.items():
            for start in range(0, len(members), size):
                outcomes.update(self._evaluate_chunk(members[start : start + size], level, encoded, slot))
        return outcomes

    def _device(self) -> tuple[torch.device, torch.dtype]:
        parameter = next(self.pipeline.parameters(), None)
        if parameter is None:
            return torch.device("cpu"), torch.float32
        return parameter.device, parameter.dtype

    def _evaluate_chunk(self, chunk, level, encoded, slot) -> dict[int, Outcome]:
        first = chunk[0][1]
        conditions = [search.task.condition for search, _ in chunk]
        device, dtype = self._device()
        noises = torch.stack([proposal.noise.build(self.shape) for _, proposal in chunk]).to(device, dtype)
        cond = self.pipeline.select(encoded, torch.tensor([slot[condition] for condition in conditions]))
        before = self.denoiser.nfe
        if first.gradient:
            x, images, raw, gradients = self._run_with_gradient(noises, cond, conditions)
            x0_stop = None
        else:
            with torch.no_grad():
                x, x0_stop, images = self._run_plan(chunk, level, noises, cond)
                raw = self._score(images, conditions)
            gradients = None
        if first.gradient:
            self.denoiser.charge_backward(self.denoiser.nfe - before)
        nfe_each = (self.denoiser.nfe - before) // len(chunk)
        records = []
        for i, (search, proposal) in enumerate(chunk):
            scores = {name: values[i] for name, values in raw.items()}
            search.raw[proposal.id] = scores
            parent = search.states.get(proposal.start) if proposal.start is not None else None
            root = parent.root if parent is not None else noises[i].detach().float().cpu()
            replayable = (parent.replayable if parent is not None else True) and not (
                proposal.renoise_to is not None or proposal.stochastic)
            if proposal.stop > 0:
                search.states[proposal.id] = _State(x[i].detach(), proposal.stop, x0_stop[i], root, replayable)
            else:
                search.finals[proposal.id] = (images[i].detach().cpu(), root, replayable)
            search.levels.setdefault(proposal.stop, []).append((proposal.id, self._oriented(scores)))
            records.append(self._record(search, proposal, scores, nfe_each))
        if self.journal is not None:
            self.journal.append(records)
        aggregates = {}
        for search, proposal in chunk:
            history = search.levels[proposal.stop]
            aggregates[(id(search), proposal.stop)] = dict(zip([i for i, _ in history],
                                                                mean_rank([row for _, row in history])))
        return {
            id(proposal): Outcome(
                proposal.id, aggregates[(id(search), proposal.stop)][proposal.id], search.raw[proposal.id], nfe_each,
                proposal.stop, None if gradients is None else gradients[i].cpu(),
            )
            for i, (search, proposal) in enumerate(chunk)
        }

    def _run_plan(self, chunk, level, noises, cond):
        """Denoise a chunk that shares one plan; returns x at the stop level, its x0-preview, and images."""
        first = chunk[0][1]
        if first.start is None:
            x = self.pipeline.initial_latents(noises, self.sigmas.to(noises.device))
            top, cached = float(self.sigmas[0]), None
        else:
            states = [search.states[proposal.start] for search, proposal in chunk]
            x = torch.stack([state.x for state in states])
            cached = torch.stack([state.x0 for state in states])
            top = level
            if first.renoise_to is not None:
                x, top, cached = renoise(x, level, first.renoise_to, noises), first.renoise_to, None
        segment = sigmas_between(self.sigmas, top, first.stop).to(x.device)
        if first.stochastic:
            x = ancestral_step(self.denoiser, x, float(segment[0]), float(segment[1]), cond, noises, cached)
            segment, cached = segment[1:], None
        x = solve(self.denoiser, x, segment, cond, self.settings.sampler, x0_first=cached)
        if first.stop > 0:
            x0 = self.denoiser(x, torch.full((x.shape[0],), first.stop, device=x.device, dtype=x.dtype), cond)
            return x, x0, self.pipeline.decode(x0).float().clamp(0, 1)
        return x, None, self.pipeline.decode(x).float().clamp(0, 1)

    def _run_with_gradient(self, noises, cond, conditions):
        """A full solve with autograd; returns the sample, images, scores and d(mean oriented score)/d(noise)."""
        not_differentiable = [v.name for v in self.verifiers if not type(v).differentiable]
        if not_differentiable:
            raise UsageError(
                f"algorithm {self.settings.algorithm.name!r} ascends verifier gradients, but "
                f"{', '.join(not_differentiable)} is not differentiable; choose differentiable verifiers"
            )
        with torch.inference_mode(False), torch.enable_grad():
            noise = noises.clone().requires_grad_(True)
            cond = _clone(cond)
            x = solve(self.denoiser, self.pipeline.initial_latents(noise, self.sigmas.to(noise.device)),
                      self.sigmas.to(noise.device), cond, self.settings.sampler)
            images = self.pipeline.decode(x).float().clamp(0, 1)
            total = 0.0
            raw = {}
            for verifier in self.verifiers:
                values = verifier.score(images, conditions)
                raw[verifier.name] = values.detach().float().cpu().tolist()
                total = total + (values if type(verifier).higher_is_better else -values).sum()
            (gradient,) = torch.autograd.grad(total / len(self.verifiers), noise)
        return x.detach(), images.detach(), raw, gradient.detach()

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
            "start": proposal.start,
            "renoise_to": proposal.renoise_to,
            "stochastic": proposal.stochastic,
            "stop": proposal.stop,
            "gradient": proposal.gradient,
            "noise": proposal.noise.as_dict(),
            "scores": scores,
            "nfe": nfe,
        }

    def _finish(self, search: _Search) -> SearchResult:
        finals = search.levels.get(0.0, [])
        if not finals:
            raise RuntimeError(f"algorithm {self.settings.algorithm.name!r} ended a search without a finished sample")
        aggregates = mean_rank([row for _, row in finals])
        best = max(range(len(finals)), key=lambda i: (aggregates[i], -i))
        candidate = finals[best][0]
        image, root, replayable = search.finals[candidate]
        result = SearchResult(
            task=search.task,
            candidate=candidate,
            image=image,
            noise=root,
            score=aggregates[best],
            scores=search.raw[candidate],
            nfe=search.nfe,
            candidates=len(search.raw),
            replayable=replayable,
        )
        if self.journal is not None:
            self.journal.append(
                [{"type": "result", "search": search.task.condition.key, "repeat": search.task.repeat,
                  "candidate": candidate, "score": result.score, "nfe": result.nfe}]
            )
        search.states.clear()
        return result


def _clone(encoded: Any) -> Any:
    """A copy of an encoding usable by autograd (encodings made under inference mode are not)."""
    if isinstance(encoded, dict):
        return {key: _clone(value) for key, value in encoded.items()}
    return encoded.clone() if isinstance(encoded, torch.Tensor) else encoded
