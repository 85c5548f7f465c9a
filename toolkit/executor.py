"""The executor: runs ask/tell searches, batching every search's candidates through the denoiser and verifiers."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
from PIL import Image

from .algorithm import Outcome, Proposal, SearchAlgorithm, SearchContext
from .conditions import Condition
from .denoiser import CountingDenoiser
from .ensemble import mean_rank, oriented, weighted_standardized
from .errors import UsageError
from .journal import Journal, load_artifact
from .pipeline import Pipeline
from .sampling import ancestral_step, preview, renoise, sigmas_between, solve
from .verifier import Verifier


log = logging.getLogger("noisesearch")
NATIVE_HINT = ", or model.mode native where the family has a denoiser adapter (docs/pipelines.md)"


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
    ensemble: str = "rank"
    weights: Optional[tuple[float, ...]] = None

    def sample_nfe(self, pipeline: type[Pipeline]) -> int:
        """NFEs of one full solve of one sample at these settings."""
        return pipeline.sample_calls(self.sampler, self.steps) * pipeline.nfe_per_call(self.guidance)


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

    @property
    def pil(self) -> Image.Image:
        """The chosen image as a PIL image (8 bits per channel)."""
        array = (self.image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


@dataclass
class _State:
    """A kept intermediate sample: x at ``level``, its x0-prediction there, and its root noise."""

    x: torch.Tensor
    level: float
    x0: torch.Tensor
    root: torch.Tensor
    replayable: bool
    preview: Optional[torch.Tensor] = None
    earlier: Optional[tuple[float, torch.Tensor]] = None  # the level before and its x0 (multistep samplers)


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
    finals: dict[int, tuple[torch.Tensor, torch.Tensor, bool, Optional[int]]] = field(default_factory=dict)
    aggregates: dict[int, float] = field(default_factory=dict)
    aggregate_key: Optional[tuple] = None


@dataclass
class _Evaluation:
    """What evaluating one proposal produced: computed here, replayed from the journal, or from another rank."""

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

    def tensors(self) -> dict[str, torch.Tensor]:
        named = {"root": self.root, "x": self.x, "x0": self.x0, "image": self.image, "gradient": self.gradient,
                 "preview": self.preview, "earlier": self.earlier,
                 "earlier_level": None if self.earlier_level is None else torch.tensor(self.earlier_level)}
        return {key: value.detach().cpu().contiguous() for key, value in named.items() if value is not None}


PLAN_FIELDS = ("parents", "start", "renoise_to", "stochastic", "stop", "gradient", "noise")


def plan_of(proposal: Proposal) -> dict:
    """The journaled description of how a proposal is made, compared on replay."""
    return {
        "parents": list(proposal.parents),
        "start": proposal.start,
        "renoise_to": proposal.renoise_to,
        "stochastic": proposal.stochastic,
        "stop": proposal.stop,
        "gradient": proposal.gradient,
        "noise": proposal.noise.as_dict(),
    }


class ReplayMismatch(UsageError):
    """A journaled candidate differs from what the code now proposes: the run cannot be resumed."""


class Executor:
    """Runs searches for many conditions at once; candidates of all of them share the model's batches.

    With ``replay`` (journaled candidates by (search, repeat, id)), candidates already evaluated are restored, not
    evaluated again. With ``shard`` = (rank, world, gather), each rank evaluates its share of every round and
    ``gather`` (an all-gather of Python objects) hands every rank all evaluations: the algorithm is replicated.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        verifiers: Sequence[Verifier],
        settings: SearchSettings,
        journal: Optional[Journal] = None,
        replay: Optional[dict[tuple, dict]] = None,
        shard: Optional[tuple[int, int, Callable[[Any], list]]] = None,
    ):
        self.pipeline = pipeline
        self.verifiers = list(verifiers)
        self.settings = settings
        self.journal = journal
        self.replay = replay or {}
        self.shard = shard
        self.sample_nfe = settings.sample_nfe(type(pipeline))
        self.nfe_per_call = type(pipeline).nfe_per_call(settings.guidance)
        self.denoiser = CountingDenoiser(self._denoise, self.nfe_per_call)
        pipeline.configure(settings.steps, settings.guidance, settings.height, settings.width, settings.sampler)
        self.frame = pipeline.frame
        self.sigmas = pipeline.sigmas(settings.steps)
        self.shape = pipeline.latent_shape(settings.height, settings.width)
        settings.algorithm.check_context(settings.params, self._context(Task(0, Condition(prompt="probe"), 0)))
        if settings.algorithm.uses_gradients:
            self._require_differentiable()
        self.whole = type(pipeline).whole
        if self.whole:
            self._check_whole()
        self.preview_level = preview_level(self.sigmas, self.verifiers)
        self.verifier_seconds = {verifier.name: 0.0 for verifier in self.verifiers}

    def aggregate(self, rows: list[dict[str, float]]) -> list[float]:
        """Scores of candidates at one level from their oriented per-verifier scores (higher is better)."""
        if self.settings.ensemble == "weighted":
            weights = self.settings.weights or (1.0,) * len(self.verifiers)
            return weighted_standardized(rows, {v.name: w for v, w in zip(self.verifiers, weights)})
        return mean_rank(rows)

    @property
    def nfe_used(self) -> int:
        """Denoiser evaluations made by this process (replayed candidates count where they were evaluated)."""
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
            evaluations = self._evaluations(pending, encoded, slot)
            for (search, proposal), evaluation in zip(pending, evaluations):
                self._integrate(search, proposal, evaluation)
            told: dict[int, list[Outcome]] = {}
            for (search, proposal), evaluation in zip(pending, evaluations):
                told.setdefault(id(search), []).append(self._outcome(search, proposal, evaluation))
            for search in searches:
                if id(search) in told:
                    search.algorithm.tell(told[id(search)])
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

    def _check_whole(self) -> None:
        """Whole-pipeline mode offers initial noises and final images only: refuse what needs more, before running."""
        pipeline = getattr(type(self.pipeline), "pipeline_name", type(self.pipeline).name)
        if self.settings.algorithm.uses_gradients:
            raise UsageError(f"algorithm {self.settings.algorithm.name!r} needs gradients through the sampler, which "
                             f"whole-pipeline mode ({pipeline}) does not offer; use none, random, zero-order or "
                             f"evolution{NATIVE_HINT}")
        previewing = [v.name for v in self.verifiers if type(v).preview_sigma is not None]
        if previewing:
            raise UsageError(f"verifier {previewing[0]!r} needs x0-previews, which whole-pipeline mode ({pipeline}) "
                             f"does not offer; choose a verifier of final images{NATIVE_HINT}")

    def _check_whole_proposal(self, proposal: Proposal) -> None:
        needs = [what for what, used in (
            ("partial solves", proposal.start is not None or proposal.stop > 0),
            ("re-noising", proposal.renoise_to is not None), ("stochastic steps", proposal.stochastic),
            ("gradients", proposal.gradient)) if used]
        if needs:
            pipeline = getattr(type(self.pipeline), "pipeline_name", type(self.pipeline).name)
            raise UsageError(f"algorithm {self.settings.algorithm.name!r} needs {' and '.join(needs)}, which "
                             f"whole-pipeline mode ({pipeline}) does not offer: it runs the pipeline from initial "
                             f"noises only; use none, random, zero-order or evolution{NATIVE_HINT}")

    def _cost(self, search: _Search, proposal: Proposal) -> int:
        if self.whole:
            self._check_whole_proposal(proposal)
        level = None
        if proposal.start is not None:
            if proposal.start not in search.states:
                raise RuntimeError(f"proposal {proposal.id} continues candidate {proposal.start}, which kept no state")
            level = search.states[proposal.start].level
        if proposal.gradient and (proposal.start is not None or proposal.stop > 0):
            raise RuntimeError("gradient proposals start from a fresh noise and stop at sigma = 0")
        return search.context.cost(level, proposal.stop, proposal.renoise_to, proposal.stochastic, proposal.gradient)

    def _charge(self, search: _Search, proposals: list[Proposal]) -> None:
        cost = sum(self._cost(search, proposal) for proposal in proposals)
        if search.nfe + cost > self.settings.budget_nfe:
            raise RuntimeError(
                f"algorithm {self.settings.algorithm.name!r} asked for {cost} NFEs with "
                f"{self.settings.budget_nfe - search.nfe} NFEs of its budget left: a bug in the algorithm"
            )
        search.nfe += cost

    def _evaluations(self, pending, encoded, slot) -> list[_Evaluation]:
        """Evaluations of every pending proposal: replayed where journaled, else computed (by this rank's shard)."""
        found: dict[int, _Evaluation] = {}
        for i, (search, proposal) in enumerate(pending):
            record = self.replay.get((search.task.condition.key, search.task.repeat, proposal.id))
            if record is not None:
                found[i] = self._replayed(search, proposal, record)
        todo = [i for i in range(len(pending)) if i not in found]
        mine = todo if self.shard is None else todo[self.shard[0]::self.shard[1]]
        computed = self._compute([(i, *pending[i]) for i in mine], encoded, slot)
        if self.journal is not None and computed:
            order = sorted(computed)
            self.journal.append([self._record(*pending[i], computed[i]) for i in order],
                                [computed[i].tensors() for i in order])
        if self.shard is not None:
            for part in self.shard[2](computed):
                found.update(part)
        else:
            found.update(computed)
        return [found[i] for i in range(len(pending))]

    def _replayed(self, search: _Search, proposal: Proposal, record: dict) -> _Evaluation:
        journaled = {name: record.get(name) for name in PLAN_FIELDS}
        current = plan_of(proposal)
        changed = [name for name in PLAN_FIELDS if journaled[name] != current[name]]
        if changed:
            raise ReplayMismatch(
                f"cannot resume: candidate {proposal.id} of search {search.task.condition.key!r} (repeat "
                f"{search.task.repeat}) was journaled with another {', '.join(changed)} than the code now proposes; "
                "the algorithm's code or the run's config changed since the run started: start a new run"
            )
        tensors = load_artifact(self.journal.path.parent, record["artifact"]) if self.journal else {}
        level = tensors.get("earlier_level")
        return _Evaluation(record["scores"], record["nfe"], tensors["root"], record["replayable"],
                           tensors.get("x"), tensors.get("x0"), tensors.get("image"), tensors.get("gradient"),
                           tensors.get("preview"), tensors.get("earlier"), None if level is None else float(level))

    def _compute(self, items, encoded, slot) -> dict[int, _Evaluation]:
        groups: dict[tuple, list] = {}
        for i, search, proposal in items:
            level = search.states[proposal.start].level if proposal.start is not None else None
            key = (level, proposal.renoise_to, proposal.stochastic, proposal.stop, proposal.gradient)
            groups.setdefault(key, []).append((i, search, proposal))
        computed: dict[int, _Evaluation] = {}
        size = self.settings.batch_size
        for (level, *_), members in groups.items():
            for start in range(0, len(members), size):
                computed.update(self._compute_chunk(members[start : start + size], level, encoded, slot))
        return computed

    def _compute_chunk(self, members, level, encoded, slot) -> dict[int, _Evaluation]:
        chunk = [(search, proposal) for _, search, proposal in members]
        first = chunk[0][1]
        conditions = [search.task.condition for search, _ in chunk]
        device, dtype = self.pipeline.placement()
        noises = None
        if first.start is None or first.renoise_to is not None or first.stochastic:  # else the noise goes unused
            noises = torch.stack([proposal.noise.build(self.shape) for _, proposal in chunk]).to(device, dtype)
        cond = self.pipeline.select(encoded, torch.tensor([slot[condition] for condition in conditions]))
        before = self.denoiser.nfe
        gradients = None
        earlier = None
        if self.whole:
            with torch.no_grad():
                images = self.pipeline.generate(noises, conditions, self.settings.steps, self.settings.guidance,
                                                self.settings.height, self.settings.width,
                                                [proposal.noise for _, proposal in chunk])
                raw = self._score(images, conditions)
            self.denoiser.charge(self.sample_nfe * len(chunk))
            x = x0_stop = previews = None
        elif first.gradient:
            x, images, raw, gradients = self._run_with_gradient(noises, cond, conditions)
            x0_stop = previews = None
            self.denoiser.charge_backward(self.denoiser.nfe - before)
        else:
            with torch.no_grad():
                x, x0_stop, images, previews, earlier = self._run_plan(chunk, level, noises, cond)
                raw = self._score(images, conditions, previews)
        nfe_each = (self.denoiser.nfe - before) // len(chunk)
        computed = {}
        for j, (i, search, proposal) in enumerate(members):
            parent = search.states.get(proposal.start) if proposal.start is not None else None
            root = parent.root if parent is not None else noises[j].detach().float().cpu()
            replayable = (parent.replayable if parent is not None else True) and not (
                proposal.renoise_to is not None or proposal.stochastic)
            stop = proposal.stop > 0
            computed[i] = _Evaluation(
                {name: values[j] for name, values in raw.items()}, nfe_each, root, replayable,
                x=x[j].detach().cpu() if stop else None, x0=x0_stop[j].detach().cpu() if stop else None,
                image=None if stop else images[j].detach().cpu(),
                gradient=None if gradients is None else gradients[j].cpu(),
                preview=previews[j].detach().cpu() if stop and previews is not None else None,
                earlier=earlier[1][j].detach().cpu() if stop and earlier is not None else None,
                earlier_level=earlier[0] if stop and earlier is not None else None,
            )
        return computed

    def _integrate(self, search: _Search, proposal: Proposal, evaluation: _Evaluation) -> None:
        device, dtype = self.pipeline.placement()
        search.raw[proposal.id] = evaluation.scores
        if proposal.stop > 0:
            preview = evaluation.preview.to(device, dtype) if evaluation.preview is not None else None
            earlier = None if evaluation.earlier is None else (evaluation.earlier_level,
                                                               evaluation.earlier.to(device, dtype))
            search.states[proposal.id] = _State(evaluation.x.to(device, dtype), proposal.stop,
                                                evaluation.x0.to(device, dtype), evaluation.root, evaluation.replayable,
                                                preview, earlier)
        else:
            fresh = proposal.start is None and proposal.renoise_to is None and not proposal.stochastic
            search.finals[proposal.id] = (evaluation.image, evaluation.root, evaluation.replayable,
                                          proposal.noise.fresh_seed if fresh else None)
        search.levels.setdefault(proposal.stop, []).append((proposal.id, self._oriented(evaluation.scores)))

    def _outcome(self, search: _Search, proposal: Proposal, evaluation: _Evaluation) -> Outcome:
        history = search.levels[proposal.stop]
        key = (proposal.stop, len(history))
        if search.aggregate_key != key:
            search.aggregates = dict(zip([i for i, _ in history], self.aggregate([row for _, row in history])))
            search.aggregate_key = key
        return Outcome(proposal.id, search.aggregates[proposal.id], evaluation.scores, evaluation.nfe, proposal.stop,
                       evaluation.gradient)

    def _run_plan(self, chunk, level, noises, cond):
        """Denoise a chunk that shares one plan; returns x at the stop level, its x0-prediction, the images, the
        x0-previews at ``preview_level`` (latents; None when no verifier needs them or none was reached), and the
        level before the stop with its x0-predictions (what a multistep sampler continues from; else None)."""
        first = chunk[0][1]
        previews = history = None
        if first.start is None:
            x = self.pipeline.initial_latents(noises, self.sigmas.to(noises.device))
            top, cached = float(self.sigmas[0]), None
        else:
            states = [search.states[proposal.start] for search, proposal in chunk]
            x = torch.stack([state.x for state in states])
            cached = torch.stack([state.x0 for state in states])
            if all(state.preview is not None for state in states):
                previews = torch.stack([state.preview for state in states])
            top = level
            if all(state.earlier is not None for state in states) and len({s.earlier[0] for s in states}) == 1:
                history = (states[0].earlier[0], torch.stack([state.earlier[1] for state in states]))
            if first.renoise_to is not None:
                x, top, cached = renoise(x, level, first.renoise_to, noises, self.frame), first.renoise_to, None
        if first.renoise_to is not None or first.stochastic:
            history = None  # the state moved off the solve it came from
        captured: list[torch.Tensor] = []
        last: list[tuple[float, torch.Tensor]] = []

        def capture(sigma, x0):
            if self.preview_level is not None and abs(float(sigma) - self.preview_level) <= 1e-6 * self.preview_level:
                captured.append(x0)
            if self.settings.sampler == "dpm2m":
                last[:] = [(float(sigma), x0)]

        segment = sigmas_between(self.sigmas, top, first.stop).to(x.device)
        if first.stochastic:
            if cached is None:
                cached = preview(self.denoiser, x, segment[0], cond)
            capture(segment[0], cached)
            x = ancestral_step(self.denoiser, x, float(segment[0]), float(segment[1]), cond, noises, cached, self.frame)
            segment, cached = segment[1:], None
        x = solve(self.denoiser, x, segment, cond, self.settings.sampler, x0_first=cached, on_step=capture,
                  frame=self.frame, earlier=history)
        earlier = last[0] if first.stop > 0 and len(segment) > 1 and last else None
        x0 = None
        if first.stop > 0:
            x0 = self.denoiser(x, torch.full((x.shape[0],), first.stop, device=x.device, dtype=x.dtype), cond)
            capture(first.stop, x0)
        if captured:
            previews = captured[-1]
        images = self.pipeline.decode(x0 if x0 is not None else x).float().clamp(0, 1)
        return x, x0, images, previews, earlier

    def _require_differentiable(self) -> None:
        not_differentiable = [v.name for v in self.verifiers if not type(v).differentiable]
        if not_differentiable:
            raise UsageError(
                f"algorithm {self.settings.algorithm.name!r} ascends verifier gradients, but "
                f"{', '.join(not_differentiable)} is not differentiable; choose differentiable verifiers"
            )

    def _run_with_gradient(self, noises, cond, conditions):
        """A full solve with autograd; returns the sample, images, scores and d(mean oriented score)/d(noise)."""
        with torch.inference_mode(False), torch.enable_grad():
            noise = noises.clone().requires_grad_(True)
            cond = _clone(cond)
            x = solve(self.denoiser, self.pipeline.initial_latents(noise, self.sigmas.to(noise.device)),
                      self.sigmas.to(noise.device), cond, self.settings.sampler, frame=self.frame)
            images = self.pipeline.decode(x).float().clamp(0, 1)
            total = 0.0
            raw = {}
            for verifier in self.verifiers:
                started = time.perf_counter()
                values = verifier.score(images, conditions)
                raw[verifier.name] = values.detach().float().cpu().tolist()
                self.verifier_seconds[verifier.name] += time.perf_counter() - started
                total = total + (values if type(verifier).higher_is_better else -values).sum()
            (gradient,) = torch.autograd.grad(total / len(self.verifiers), noise)
        return x.detach(), images.detach(), raw, gradient.detach()

    def _score(self, images: torch.Tensor, conditions: list[Condition],
               previews: Optional[torch.Tensor] = None) -> dict[str, list[float]]:
        """Each verifier's scores of a batch, on the verifier's device; preview verifiers also get the previews."""
        raw: dict[str, list[float]] = {}
        preview_images = None
        for verifier in self.verifiers:
            started = time.perf_counter()
            parameter = next(verifier.parameters(), None)
            device = parameter.device if parameter is not None else images.device
            if type(verifier).preview_sigma is None:
                values = verifier.score(images.to(device), conditions)
            else:
                if preview_images is None:  # above the preview level a candidate is its own preview
                    preview_images = images if previews is None else self.pipeline.decode(previews).float().clamp(0, 1)
                values = verifier.score(images.to(device), conditions, previews=preview_images.to(device))
            raw[verifier.name] = values.float().cpu().tolist()
            self.verifier_seconds[verifier.name] += time.perf_counter() - started
        return raw

    def _oriented(self, scores: dict[str, float]) -> dict[str, float]:
        rows = {v.name: oriented(scores[v.name], v.higher_is_better) for v in self.verifiers}
        for name, value in scores.items():
            if not math.isfinite(value):
                log.warning("verifier %s gave a non-finite score (%s); the candidate counts as the worst", name, value)
        return rows

    def _record(self, search: _Search, proposal: Proposal, evaluation: _Evaluation) -> dict:
        return {
            "type": "candidate",
            "search": search.task.condition.key,
            "repeat": search.task.repeat,
            "id": proposal.id,
            **plan_of(proposal),
            "scores": evaluation.scores,
            "nfe": evaluation.nfe,
            "replayable": evaluation.replayable,
        }

    def _finish(self, search: _Search) -> SearchResult:
        finals = search.levels.get(0.0, [])
        if not finals:
            raise RuntimeError(f"algorithm {self.settings.algorithm.name!r} ended a search without a finished sample")
        aggregates = self.aggregate([row for _, row in finals])
        best = max(range(len(finals)), key=lambda i: (aggregates[i], -finals[i][0]))
        candidate = finals[best][0]
        image, root, replayable, noise_seed = search.finals[candidate]
        search.states.clear()
        return SearchResult(
            task=search.task,
            candidate=candidate,
            image=image,
            noise=root,
            score=aggregates[best],
            scores=search.raw[candidate],
            nfe=search.nfe,
            candidates=len(search.raw),
            replayable=replayable,
            noise_seed=noise_seed,
        )


def _clone(encoded: Any) -> Any:
    """A copy of an encoding usable by autograd (encodings made under inference mode are not)."""
    if isinstance(encoded, dict):
        return {key: _clone(value) for key, value in encoded.items()}
    return encoded.clone() if isinstance(encoded, torch.Tensor) else encoded


def preview_level(sigmas: torch.Tensor, verifiers: Sequence[Verifier]) -> Optional[float]:
    """The schedule's noise level nearest (in log sigma) to the one preview verifiers ask for, or None."""
    wanted = {type(v).preview_sigma for v in verifiers if type(v).preview_sigma is not None}
    if not wanted:
        return None
    if len(wanted) > 1:
        raise UsageError(f"the verifiers ask for previews at different noise levels ({sorted(wanted)}); the search "
                         "hands every preview verifier the same one: use verifiers that agree")
    (sigma,) = wanted
    positive = [float(s) for s in sigmas if float(s) > 0]
    return min(positive, key=lambda s: abs(math.log(s) - math.log(sigma)))
