"""The round loop: ask every search, charge its budget, evaluate in shared batches, journal, integrate, tell.

Algorithms only propose and learn (nevergrad's ask/tell); the executor owns the budget, the batching, the journal
and one rule of selection for every algorithm (Ma et al. 2025, section 3).
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from ..algorithm import Proposal, SearchContext
from ..sampling.denoiser import CountingDenoiser
from ..errors import Stopped, UsageError, first_line
from ..imaging import thumbnails
from ..store.journal import Journal
from ..store.records import CandidateRecord
from ..store.writer import InlineWriter, JournalWriter
from ..pipeline import Pipeline
from ..verifier import Latents, Verifier
from . import whole
from .batching import AutoBatch
from .check import check, context
from .compiled import padded
from .gradients import solve_with_gradient
from .plans import Planner
from .replay import candidate_record, replay
from .transfer import copies_done, host_rows, wait_for_copies
from .scoring import Scorer, preview_level
from .selection import Outcomes, choose
from .state import Evaluated, Finished, KeptState, SearchRun
from .types import SearchResult, SearchSettings, Task


log = logging.getLogger("noisesearch")
AUTO_START = 256  # ``model.batch_size auto``: the size before its trials settle one
STOP_CODES = {"SIGTERM": 143, "Ctrl-C": 130}  # what a shell reports for a process the signal ended


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


class Clock:
    """``model.budget_seconds``: searches batched together share ``seconds`` each of wall clock (verifiers, the
    journal and all, compile warm-up excepted); read between rounds, so every search finishes its round."""

    def __init__(self, seconds: Optional[float], searches: int, executor: "Executor"):
        self.budget = None if seconds is None else seconds * searches
        self.executor = executor
        self.started = time.perf_counter()
        self.warmed = executor.warmup_seconds

    def spent(self) -> bool:
        used = time.perf_counter() - self.started - (self.executor.warmup_seconds - self.warmed)
        return used >= self.budget


class OutOfDeviceMemory(UsageError):
    """Not even one candidate fits on the device: a memory setting must change (exit code 2)."""


class AlgorithmError(RuntimeError):
    """An algorithm broke the ask/tell contract (over its budget, a repeated id, an unknown parent)."""


class Executor:
    """Runs searches for many conditions at once; candidates of all of them share the model's batches.

    With ``replay`` (journaled candidate records by (search, repeat, id)), candidates already evaluated are restored,
    not evaluated again. With a ``shard``, each rank evaluates its share of every round and all ranks integrate all.
    """

    def __init__(self, pipeline: Pipeline, verifiers: Sequence[Verifier], settings: SearchSettings,
                 journal: Optional[Journal] = None, replay: Optional[dict[tuple, CandidateRecord]] = None,
                 shard: Optional[Shard] = None, keep_images: Optional[int] = None, background_writes: bool = True):
        self.pipeline = pipeline
        self.background_writes = background_writes
        self.writer = None
        self.timings: list[tuple] = []  # CUDA events around denoiser calls, read once a chunk's scores are in
        self.keep_images = keep_images
        self.evaluated = 0
        self.denoiser_seconds = 0.0
        self.stop_requested: Callable[[], Optional[str]] = lambda: None  # a reason to stop, checked after each round
        self.on_progress: Callable[[Sequence[SearchRun], int], None] = lambda searches, pending: None
        self.in_flight = 0  # NFEs charged this round and not evaluated yet (observers see work done, not promised)
        self._searches: Sequence[SearchRun] = ()
        self.batch_size = settings.batch_size or AUTO_START  # settles by halving when the device runs out of memory
        self.auto = AutoBatch() if settings.batch_size is None else None
        self.backed_off = False
        self.largest_chunk = 0
        self.settings = settings
        self.journal = journal
        self.replay = replay or {}
        self.shard = shard
        self.schedule = check(pipeline, verifiers, settings)
        self.scorer = Scorer(verifiers, settings.ensemble, settings.weights)
        self.sample_nfe = self.schedule.sample_nfe
        self.denoiser = CountingDenoiser(self._denoise, self.schedule.nfe_per_call)
        self.sigmas, self.shape = self.schedule.sigmas, self.schedule.shape
        self.whole = whole.runs_whole(pipeline.family)
        self.preview_level = preview_level(self.sigmas, verifiers)
        self.planner = Planner(pipeline, self.denoiser, self.sigmas, settings.sampler, self.preview_level,
                               settings.preview_size)
        self.outcomes = Outcomes(self.scorer.aggregate)
        self.round_size: Optional[int] = None
        self.clock_type: Callable[..., Clock] = Clock  # what reads ``budget_seconds`` (the suite's counts rounds)
        self.compiled = settings.compile != "off"
        self.pad_to: Optional[int] = None  # with ``compile``: the rows every denoiser call of this chunk is padded to
        self.warmed: set[int] = set()
        self.warmup_seconds = 0.0

    @property
    def stats(self) -> ExecutorStats:
        """What this process has done so far: NFEs, candidates, seconds in the denoiser and each verifier, and the
        candidates per batch that fit (the halved size after a back-off, else the largest batch run)."""
        return ExecutorStats(nfe=self.denoiser.nfe, candidates=self.evaluated, denoiser_s=self.denoiser_seconds,
                             verifier_s=dict(self.scorer.seconds),
                             batch_size=self._settled_size(),
                             auto=self.auto.report() if self.auto is not None else None,
                             warmup_s=self.warmup_seconds)

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        """One timed denoiser call; on a CUDA device timed by events, so no call waits for the device."""
        rows = x.shape[0]
        if x.is_cuda:
            began = torch.cuda.Event(enable_timing=True)
            began.record()
        else:
            started = time.perf_counter()
        if self.pad_to is not None and rows < self.pad_to:  # padded rows: never counted, scored or journaled
            output = self.pipeline.denoise(padded(x, self.pad_to), padded(sigma, self.pad_to), cond)[:rows]
        else:
            output = self.pipeline.denoise(x, sigma, cond)
        if x.is_cuda:
            ended = torch.cuda.Event(enable_timing=True)
            ended.record()
            self.timings.append((began, ended))
        else:
            self.denoiser_seconds += time.perf_counter() - started
        return output

    def _settle_timings(self) -> None:
        """Add the CUDA-timed calls to the denoiser's seconds (after a chunk's scores: the device is done)."""
        for began, ended in self.timings:
            ended.synchronize()
            self.denoiser_seconds += began.elapsed_time(ended) / 1000
        self.timings.clear()

    def run(self, tasks: Sequence[Task]) -> list[SearchResult]:
        """Run one search per task to completion and return their results in task order."""
        distinct = list(dict.fromkeys(task.condition for task in tasks))
        encoded = self.pipeline.encode(distinct)
        slot = {condition: i for i, condition in enumerate(distinct)}
        self.round_size = None
        if self.settings.budget_seconds is not None:  # small rounds, so the clock is read often enough
            self.round_size = max(1, math.ceil((self.settings.batch_size or 8) / len(tasks)))
        searches = self._searches = [self._start(task) for task in tasks]
        self.clock = self.clock_type(self.settings.budget_seconds, len(tasks), self)
        if self.journal is not None:
            self.writer = JournalWriter(self.journal) if self.background_writes else InlineWriter(self.journal)
        try:
            self._rounds(searches, encoded, slot)
        except BaseException:
            self._close_writer(raising=True)
            raise
        self._close_writer()
        wait_for_copies(self.pipeline.placement()[0])
        return [choose(search, self.scorer.aggregate, self.settings.algorithm.name) for search in searches]

    def _close_writer(self, raising: bool = False) -> None:
        """Make every submitted batch durable (on the way out of an error too, where the first error wins)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - an error already on its way out is the one to report
            if not raising:
                raise

    def _rounds(self, searches: list[SearchRun], encoded, slot) -> None:
        """Ask, charge, evaluate, integrate and tell until every search is done (or the clock is spent)."""
        first = True
        while True:
            if not first and self._clock_spent():  # every search has finished candidates from its first round
                for search in searches:
                    search.done = True
                break
            first = False
            before = sum(search.nfe for search in searches)
            pending: list[tuple[SearchRun, Proposal]] = []
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
            self.in_flight = sum(search.nfe for search in searches) - before
            evaluations = self._evaluations(pending, encoded, slot)
            for (search, proposal), evaluation in zip(pending, evaluations):
                self._integrate(search, proposal, evaluation)
            told: dict[int, list] = {}
            for (search, proposal), evaluation in zip(pending, evaluations):
                told.setdefault(id(search), []).append(self.outcomes.outcome(search, proposal, evaluation))
            for search in searches:
                if id(search) in told:
                    search.algorithm.tell(told[id(search)])
            self.in_flight = 0
            self.on_progress(searches, 0)
            reason = self.stop_requested()
            if reason:
                raise Stopped(f"stopped on {reason} after a round of candidates was journaled", STOP_CODES[reason])

    def _start(self, task: Task) -> SearchRun:
        context = self._context(task)
        return SearchRun(task, context, self.settings.algorithm(self.settings.params, context))

    def _clock_spent(self) -> bool:
        """Whether ``budget_seconds`` is spent; ranks sharing searches (``shard: candidates``) stop together, when
        any of them has spent it."""
        if self.settings.budget_seconds is None:
            return False
        spent = self.clock.spent()
        return any(self.shard.gather(spent)) if self.shard is not None else spent

    def _context(self, task: Task) -> SearchContext:
        return context(self.settings, self.schedule, task.condition.key, task.repeat, self.round_size)

    def _charge(self, search: SearchRun, proposals: list[Proposal]) -> None:
        """Check the round's proposals (unique ids, known parents) and charge their NFEs before evaluating them."""
        name = self.settings.algorithm.name
        ids = [proposal.id for proposal in proposals]
        seen = set(search.asked)
        for i in ids:
            if i in seen:
                raise AlgorithmError(f"algorithm {name!r} proposed candidate id {i} more than once in search "
                                     f"{search.task.condition.key!r}: every proposal needs an id of its own")
            seen.add(i)
        costs = [self._cost(search, proposal) for proposal in proposals]
        cost = sum(costs)
        if search.nfe + cost > self.settings.budget_nfe:
            raise AlgorithmError(f"algorithm {name!r} asked for {cost} NFEs with "
                                 f"{self.settings.budget_nfe - search.nfe} NFEs of its budget left: a bug in the "
                                 "algorithm")
        search.asked.update(ids)
        search.nfe += cost
        search.costs.update(zip(ids, costs))

    def _cost(self, search: SearchRun, proposal: Proposal) -> int:
        if self.whole:
            whole.check_proposal(self.pipeline.family, self.settings.algorithm.name, proposal)
        level = None
        if proposal.start is not None:
            if proposal.start not in search.states:
                raise AlgorithmError(f"proposal {proposal.id} continues candidate {proposal.start}, which kept no "
                                     "state")
            level = search.states[proposal.start].level
        if proposal.gradient and (proposal.start is not None or proposal.stop > 0):
            raise AlgorithmError("gradient proposals start from a fresh noise and stop at sigma = 0")
        return search.context.cost(level, proposal.stop, proposal.renoise_to, proposal.stochastic, proposal.gradient)

    def _evaluations(self, pending, encoded, slot) -> list[Evaluated]:
        """Evaluations of every pending proposal: replayed where journaled, else computed (by this rank's shard)."""
        found: dict[int, Evaluated] = {}
        journal_dir = self.journal.path.parent if self.journal is not None else None
        for i, (search, proposal) in enumerate(pending):
            record = self.replay.get((*search.key, proposal.id))
            if record is not None:
                found[i] = replay(search, proposal, record, journal_dir)
                self.in_flight -= search.costs[proposal.id]
        todo = [i for i in range(len(pending)) if i not in found]
        mine = todo if self.shard is None else todo[self.shard.rank::self.shard.world]
        computed = self._compute([(i, *pending[i]) for i in mine], encoded, slot)
        if self.writer is not None and computed:
            order = sorted(computed)
            kept = self._images_to_keep([(pending[i][0], computed[i]) for i in order])
            records = [candidate_record(*pending[i], computed[i]) for i in order]
            ready = copies_done(self.pipeline.placement()[0])
            self.writer.submit(functools.partial(_append, self.journal, records,
                                                 [(computed[i], keep) for i, keep in zip(order, kept)], ready))
        if self.shard is not None:
            wait_for_copies(self.pipeline.placement()[0])
            for part in self.shard.gather({i: evaluation.to_cpu() for i, evaluation in computed.items()}):
                found.update(part)
        else:
            found.update(computed)
        return [found[i] for i in range(len(pending))]

    def _images_to_keep(self, evaluated: list[tuple[SearchRun, Evaluated]]) -> list[bool]:
        """Which finished candidates' full images the journal keeps: all, or with ``keep_images`` K, those fewer than
        K candidates of the same search beat on every verifier (such a candidate can never be chosen: any monotone
        ensemble ranks it below each of them, so resume stays exact)."""
        if self.keep_images is None:
            return [True] * len(evaluated)
        seen: dict[tuple, list[dict[str, float]]] = {}
        kept = []
        for search, evaluation in evaluated:
            if evaluation.image is None:
                kept.append(False)
                continue
            earlier = seen.setdefault(search.key, [row for _, row in search.levels.get(0.0, [])])
            row = self.scorer.oriented(evaluation.scores)
            beaten_by = sum(all(other[name] > value for name, value in row.items()) for other in earlier)
            kept.append(beaten_by < self.keep_images)
            earlier.append(row)
        return kept

    def _compute(self, items, encoded, slot) -> dict[int, Evaluated]:
        """Evaluate proposals in chunks of ``batch_size`` that share one plan; a chunk that runs out of device memory
        is retried in halves, and the size that fits is kept for the rest of the run."""
        groups: dict[tuple, list] = {}
        for i, search, proposal in items:
            level = search.states[proposal.start].level if proposal.start is not None else None
            key = (level, proposal.renoise_to, proposal.stochastic, proposal.stop, proposal.gradient, proposal.scored)
            groups.setdefault(key, []).append((i, search, proposal))
        computed: dict[int, Evaluated] = {}
        for members in groups.values():
            start = 0
            while start < len(members):
                size = self.auto.size() if self.auto is not None and self.auto.tuning else self.batch_size
                chunk = members[start : start + size]
                if self.compiled and size not in self.warmed:
                    self._warm_up(chunk, size, encoded, slot)
                before, began = self.denoiser.nfe, time.perf_counter()
                try:
                    done = self._compute_chunk(chunk, encoded, slot, size)
                    if self.auto is not None and self.auto.tuning:
                        self.auto.record(len(chunk), self.denoiser.nfe - before, time.perf_counter() - began)
                        self._fit_free_memory(len(chunk))
                        if not self.auto.tuning:
                            self.batch_size = self.auto.chosen
                    self._settle_timings()
                    computed.update(done)
                    self.evaluated += len(done)
                    self.in_flight -= sum(search.costs[proposal.id] for _, search, proposal in chunk)
                    self.on_progress(self._searches, self.in_flight)
                except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
                    if not is_out_of_memory(error):
                        raise
                    self.denoiser.nfe = before  # the failed attempt is not charged: its candidates run again
                    if self.auto is not None and self.auto.tuning:
                        free_device_memory()
                        self.auto.limit(len(chunk))
                        if not self.auto.tuning:
                            self.batch_size = self.auto.chosen
                        continue
                    self._back_off(len(chunk), error)
                    continue
                start += len(chunk)
                self.largest_chunk = max(self.largest_chunk, len(chunk))
        return computed

    def _warm_up(self, chunk, size: int, encoded, slot) -> None:
        """Compile the denoiser for chunks of ``size`` before any is timed: one uncounted call on zeros at the top
        level (whole-pipeline mode: one discarded pipeline call on the chunk), timed as warm-up."""
        started = time.perf_counter()
        device, dtype = self.pipeline.placement()
        _, search, proposal = chunk[0]
        index = torch.full((size,), slot[search.task.condition])
        with torch.no_grad():
            if self.whole:
                noise = proposal.noise.build(self.shape).to(device, dtype)
                self.pipeline.generate(noise.expand(size, *noise.shape).contiguous(),
                                       [search.task.condition] * size, [proposal.noise] * size)
            else:
                x = torch.zeros((size, *self.shape), device=device, dtype=dtype)
                sigma = torch.full((size,), float(self.sigmas[0]), device=device, dtype=dtype)
                output = self.pipeline.denoise(x, sigma, self.pipeline.select(encoded, index))
                if output.is_cuda:
                    torch.cuda.synchronize(output.device)
        self.warmed.add(size)
        self.warmup_seconds += time.perf_counter() - started

    def _settled_size(self) -> Optional[int]:
        """The candidates per chunk that fit and were kept: after a back-off the halved size, with ``auto`` the
        size chosen (the largest chunk run while it was still measuring), else the largest chunk run."""
        if self.backed_off:
            return self.batch_size
        if self.auto is not None:
            return self.auto.chosen or self.largest_chunk or None
        return self.largest_chunk or self.batch_size

    def _fit_free_memory(self, rows: int) -> None:
        """On a CUDA device, drop the trial sizes the free memory cannot hold, from the peak a chunk of ``rows``
        needed (``torch.cuda.mem_get_info``); elsewhere the out-of-memory back-off is the only limit."""
        device, _ = self.pipeline.placement()
        if device.type != "cuda" or not torch.cuda.is_available():
            return
        free, _ = torch.cuda.mem_get_info(device)
        per_row = torch.cuda.max_memory_allocated(device) / max(rows, 1)
        if per_row > 0:
            self.auto.limit(int(0.9 * (free + torch.cuda.memory_allocated(device)) / per_row) + 1)

    def _back_off(self, rows: int, error: BaseException) -> None:
        """Free device memory and halve the batch; a single row that does not fit is the user's to fix."""
        free_device_memory()
        if rows <= 1:
            raise OutOfDeviceMemory(
                f"out of device memory with one candidate per batch ({first_line(error)}); settings that only "
                "change memory (a run resumes after them): model.offload true, model.verifier_device cpu; settings "
                "that change results (start a new run): model.dtype bf16 or fp16, a smaller model.height and "
                "model.width. Everything journaled is kept: `noisesearch resume OUT`")
        self.batch_size = max(1, rows // 2)
        if not self.backed_off:
            log.warning("out of device memory at %d candidates per batch: halving until it fits (the size that "
                        "fits is kept for the rest of the run and reported as batch_size_settled)", rows)
        self.backed_off = True

    def _compute_chunk(self, members, encoded, slot, size: Optional[int] = None) -> dict[int, Evaluated]:
        """Evaluate one chunk; with ``compile`` every denoiser call is padded to ``size`` rows."""
        self.pad_to = size if self.compiled else None
        try:
            return self._evaluate_chunk(members, encoded, slot)
        finally:
            self.pad_to = None

    def _evaluate_chunk(self, members, encoded, slot) -> dict[int, Evaluated]:
        chunk = [(search, proposal) for _, search, proposal in members]
        first = chunk[0][1]
        conditions = [search.task.condition for search, _ in chunk]
        device, dtype = self.pipeline.placement()
        noises = None
        if first.uses_noise:
            noises = torch.stack([proposal.noise.build(self.shape) for _, proposal in chunk]).to(device, dtype)
        index = torch.tensor([slot[condition] for condition in conditions])
        cond = self.pipeline.select(encoded, padded(index, self.pad_to))
        before = self.denoiser.nfe
        gradients = solved = None
        if self.whole:
            with torch.no_grad():
                started = time.perf_counter()
                specs = [proposal.noise for _, proposal in chunk]
                if self.pad_to is not None and len(chunk) < self.pad_to:
                    extra = self.pad_to - len(chunk)
                    images = self.pipeline.generate(padded(noises, self.pad_to), conditions + conditions[-1:] * extra,
                                                    specs + specs[-1:] * extra)[: len(chunk)]
                else:
                    images = self.pipeline.generate(noises, conditions, specs)
                self.denoiser_seconds += time.perf_counter() - started  # the whole pipeline call, decoding included
                raw = self.scorer.score(images, conditions)
            self.denoiser.charge(self.sample_nfe * len(chunk))
        elif first.gradient:
            _, images, raw, gradients = solve_with_gradient(self.planner, self.scorer, noises, cond, conditions)
            self.denoiser.charge_backward(self.denoiser.nfe - before)
        else:
            with torch.no_grad():
                states = None if first.start is None else [search.states[p.start] for search, p in chunk]
                scored = first.scored or first.stop == 0
                undecoded = first.stop > 0 and self.scorer.reads_latents_only  # early verifiers read the latent
                solved = self.planner.run(states, noises, cond, renoise_to=first.renoise_to,
                                          stochastic=first.stochastic, stop=first.stop,
                                          decode=scored and not undecoded)
                images = solved.images
                latents = None
                if first.stop > 0 and scored:  # the chunk's own condition rows, never the padded ones
                    latents = Latents(solved.x, solved.x0, first.stop, self.pipeline.select(encoded, index))
                if scored:
                    raw = self.scorer.score(images, conditions,
                                            lambda: self.planner.decode_previews(solved.previews, images), latents)
                else:  # a kept state the algorithm will not weigh: no decoding, no verifier
                    raw = {verifier.name: [math.nan] * len(chunk) for verifier in self.scorer.verifiers}
        nfe_each = (self.denoiser.nfe - before) // len(chunk)
        stop = first.stop > 0
        roots = None if noises is None else host_rows(noises.float())
        thumbs = host_rows(thumbnails(images.detach())) if self.journal is not None and images is not None else None
        images = None if stop else host_rows(images)
        gradients = None if gradients is None else host_rows(gradients)
        computed = {}
        for j, (i, search, proposal) in enumerate(members):
            parent = search.states.get(proposal.start) if proposal.start is not None else None
            root = parent.root if parent is not None else roots[j]
            replayable = (parent.replayable if parent is not None else True) and not proposal.injects_noise
            evaluation = Evaluated({name: values[j] for name, values in raw.items()}, nfe_each, root, replayable,
                                    gradient=None if gradients is None else gradients[j],
                                    thumb=None if thumbs is None else thumbs[j])
            if stop:  # kept states stay where the pipeline runs; the journal and other ranks take CPU copies
                evaluation.x, evaluation.x0 = solved.x[j].detach(), solved.x0[j].detach()
                evaluation.preview = solved.previews[j].detach() if solved.previews is not None else None
                if solved.history is not None:
                    evaluation.earlier_level, evaluation.earlier = solved.history[0], solved.history[1][j].detach()
            else:
                evaluation.image = images[j]
            computed[i] = evaluation
        return computed

    def _integrate(self, search: SearchRun, proposal: Proposal, evaluation: Evaluated) -> None:
        search.raw[proposal.id] = evaluation.scores
        if proposal.stop > 0:
            device, dtype = self.pipeline.placement()
            earlier = None if evaluation.earlier is None else (evaluation.earlier_level,
                                                               evaluation.earlier.to(device, dtype))
            preview = evaluation.preview.to(device, dtype) if evaluation.preview is not None else None
            search.states[proposal.id] = KeptState(evaluation.x.to(device, dtype), proposal.stop,
                                                   evaluation.x0.to(device, dtype), evaluation.root,
                                                   evaluation.replayable, preview, earlier)
        else:
            search.finished[proposal.id] = Finished(evaluation.image, evaluation.root, evaluation.replayable,
                                                    proposal.noise.fresh_seed if proposal.is_fresh else None)
        row = (self.scorer.oriented(evaluation.scores) if proposal.scored or proposal.stop == 0
               else {name: -math.inf for name in evaluation.scores})  # unscored: never preferred, never warned of
        search.levels.setdefault(proposal.stop, []).append((proposal.id, row))


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's ``torch.OutOfMemoryError``, and the RuntimeErrors MPS, XPU and other backends raise for it."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def free_device_memory() -> None:
    """Drop the failed attempt's tensors and return cached blocks to the device."""
    gc.collect()
    for backend in (getattr(torch, "cuda", None), getattr(torch, "mps", None), getattr(torch, "xpu", None)):
        try:
            if backend is not None and backend.is_available():
                backend.empty_cache()
        except (AttributeError, RuntimeError):
            pass


def _append(journal: Journal, records: list[CandidateRecord], evaluated: list[tuple[Evaluated, bool]],
            ready: Optional["torch.cuda.Event"]) -> int:
    """The writer's job for one round: wait for its rows' copies, then journal records and tensors durably."""
    if ready is not None:
        ready.synchronize()
    journal.append(records, [evaluation.tensors(keep) for evaluation, keep in evaluated])
    return len(records)
