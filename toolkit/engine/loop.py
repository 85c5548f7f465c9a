"""The round loop: admit searches, ask each, charge its budget, evaluate in shared chunks, journal and integrate
each chunk (``settling``), tell, then let the stoppers speak. Algorithms only propose and learn (nevergrad's
ask/tell); the loop owns the budget, the order of work and one rule of selection for every algorithm (Ma et al.
2025, section 3). How a chunk runs (``chunks``), how a plan is evaluated (``evaluate``), when searches stop
(``stopping``) and what observers read (``progress``) live beside it."""

from __future__ import annotations

from typing import Callable, Container, Optional, Sequence

from ..algorithm import Proposal, SearchContext
from ..pipeline import Pipeline
from ..store.journal import MemoryJournal
from ..store.writer import InlineWriter, JournalWriter
from ..verifier import Verifier
from . import whole
from .baseline import BASELINE, baseline_of
from .check import admit_check, check, context
from .chunks import ChunkRunner, unfinished_chunks
from .encodings import Encodings
from .evaluate import Evaluator, Gradient, Stepped, Whole
from .journaling import Recorder
from .plans import Planner
from .progress import NfeProgress, Observer, Ticker
from .replay import Replay
from .scoring import Scorer, preview_level
from .selection import choose, outcome
from .settling import integrate, journal, replayed, settle
from .source import Cohort, Fixed, SearchSource
from .state import Evaluated, SearchRun
from .stopping import Clock, RunBudget, Stopper, round_size_of
from .transfer import wait_for_copies
from .types import AlgorithmError, ExecutorStats, SearchResult, SearchSettings, Shard, Task


class Executor:
    """Runs searches; the candidates of all of them share the model's chunks. ``run(tasks)`` runs a fixed list;
    ``drive(source)`` admits cohorts of searches between rounds while it runs (a long-lived process).

    A cohort's ``recorder`` replays what its journal holds (resume) and journals the rest; with a ``shard``, each
    rank evaluates its share of every round and all ranks integrate all.
    """

    def __init__(self, pipeline: Pipeline, verifiers: Sequence[Verifier], settings: SearchSettings,
                 journal=None, replay: Optional[Replay] = None, shard: Optional[Shard] = None,
                 keep_images: Optional[int] = None, background_writes: bool = True):
        self.pipeline = pipeline
        self.schedule = check(pipeline, verifiers, settings)
        scorer = Scorer(verifiers, settings.ensemble, settings.weights, settings.clip_frames, settings.clip_aggregate)
        self.defaults = Cohort((), settings, scorer, Recorder(journal or MemoryJournal(), replay, keep_images))
        self.runner = ChunkRunner(pipeline, settings.batch_size, settings.compile != "off", self.schedule.nfe_per_call,
                                  settings.pad_chunks)
        self.runner.on_call = self._tick
        self.encodings = Encodings(pipeline)
        planner = Planner(pipeline, self.runner.denoiser, self.schedule.sigmas, settings.sampler,
                          preview_level(self.schedule.sigmas, verifiers), settings.preview_size)
        kind = Whole if whole.runs_whole(pipeline.family) else Gradient if settings.algorithm.uses_gradients else Stepped
        self.evaluator: Evaluator = kind(pipeline, self.runner, self.encodings, planner, self.schedule.shape,
                                         self.schedule.sample_nfe)
        self.shard = shard
        self.stoppers: list[Stopper] = [Clock(lambda: self.runner.warmup_seconds,
                                              shard.gather if shard is not None else None), RunBudget()]
        self.observers: list[Observer] = []
        self.tickers: list[Ticker] = []
        self.progress = NfeProgress()
        self.searches: list[SearchRun] = []  # the searches running now
        self.background = background_writes
        self.writer = None

    @property
    def settings(self) -> SearchSettings:
        return self.defaults.settings

    @property
    def stats(self) -> ExecutorStats:
        """What this process has done so far: NFEs, candidates, seconds in the denoiser and each verifier (the
        loop's own), and the candidates per chunk that fit."""
        sizes = self.runner.sizes
        return ExecutorStats(nfe=self.runner.denoiser.nfe, candidates=self.progress.computed,
                             denoiser_s=self.runner.denoiser_seconds, verifier_s=dict(self.defaults.scorer.seconds),
                             batch_size=sizes.settled(), auto=sizes.auto.report() if sizes.auto is not None else None,
                             warmup_s=self.runner.warmup_seconds)

    def observe(self, observer: Optional[Observer] = None, ticker: Optional[Ticker] = None) -> None:
        """Register an observer (after every chunk and round) or a ticker (after every denoiser call)."""
        if observer is not None:
            self.observers.append(observer)
        if ticker is not None:
            self.tickers.append(ticker)

    def context(self, task: Task, settings: Optional[SearchSettings] = None,
                round_size: Optional[int] = None) -> SearchContext:
        """What an algorithm of ``task``'s search may know."""
        return context(settings or self.settings, self.schedule, task.condition.key, task.repeat, round_size)

    def run(self, tasks: Sequence[Task]) -> list[SearchResult]:
        """Run one search per task to completion and return their results in task order."""
        cohort = Cohort(tasks)
        self.drive(Fixed(cohort))
        chosen = {id(result.task): result for result in cohort.results}
        return [chosen[id(task)] for task in tasks if id(task) in chosen]

    def drive(self, source: SearchSource) -> None:
        """Run rounds, admitting the source's cohorts between them, until it is closed and its searches ended."""
        self.writer = JournalWriter() if self.background else InlineWriter()
        try:
            while True:
                for cohort in source.take(idle=not self.searches):
                    self._admit(cohort)
                if not self.searches:
                    if source.closed:
                        break
                    continue
                self._round()
        except BaseException:
            self._close_writer(raising=True)
            raise
        self._close_writer()

    def _close_writer(self, raising: bool = False) -> None:
        """Make every submitted batch durable (on the way out of an error too, where the first error wins)."""
        writer, self.writer = self.writer, None
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - an error already on its way out is the one to report
            if not raising:
                raise

    def check_cohort(self, cohort: Cohort) -> None:
        """Refuse (UsageError) a cohort this loop cannot take; unset settings, scorer and recorder become the
        loop's. Safe from another thread before ``Admissions.add``, so a refusal stays the cohort's own."""
        for name in ("settings", "scorer", "recorder"):
            if getattr(cohort, name) is None:
                setattr(cohort, name, getattr(self.defaults, name))
        if cohort.settings is not self.settings:
            admit_check(self.pipeline, self.schedule, self.settings, cohort.settings, cohort.scorer,
                        self.evaluator.planner.preview_level, isinstance(self.evaluator, Gradient))

    def _admit(self, cohort: Cohort) -> None:
        """Start a cohort's searches: its settings checked against the loop's schedule, its conditions encoded."""
        self.check_cohort(cohort)
        self.encodings.add(task.condition for task in cohort.tasks)
        round_size = round_size_of(cohort.settings, len(cohort.tasks))
        for task in cohort.tasks:
            search_context = self.context(task, cohort.settings, round_size)
            algorithm = cohort.settings.algorithm(cohort.settings.params, search_context)
            cohort.searches.append(SearchRun(task, search_context, algorithm, cohort))
        self.searches.extend(cohort.searches)
        cohort.admitted = True
        self.progress.admitted += len(cohort.searches)
        for stopper in self.stoppers:
            stopper.admit(cohort.searches)

    def _round(self) -> None:
        """One round: ask, charge, evaluate, journal, integrate, tell; then the stoppers and the searches that end."""
        pending = self._ask()
        if pending:
            evaluations = self._evaluations(pending)
            self._tell(pending, evaluations)
            self._observe()
            for stopper in self.stoppers:
                stopper.check(self.searches)
        for search in self.searches:
            search.done = search.done or search.cohort.cancelled
        self._retire([search for search in self.searches if search.done])

    def _ask(self) -> list[tuple[SearchRun, Proposal]]:
        pending: list[tuple[SearchRun, Proposal]] = []
        for search in self.searches:
            if search.done:
                continue
            proposals = search.algorithm.ask()
            if not proposals:
                search.done = True
                continue
            extra = baseline_of(search, proposals, self._cost, self.progress)  # its first ask: apart from the budget
            self._charge(search, proposals)
            pending.extend((search, proposal) for proposal in [*proposals, *extra])
        return pending

    def _tell(self, pending: list[tuple[SearchRun, Proposal]], evaluations: list[Evaluated]) -> None:
        told: dict[int, list] = {}
        for (search, proposal), evaluation in zip(pending, evaluations):
            self.progress.integrated += search.costs[proposal.id]
            if proposal.id != BASELINE:
                told.setdefault(id(search), []).append(outcome(search, proposal, evaluation))
        for search in self.searches:
            if id(search) in told:
                search.algorithm.tell(told[id(search)])

    def _retire(self, ended: list[SearchRun]) -> None:
        """Choose the result of each search that ended (cancelled ones end unchosen) and hand it to its cohort."""
        if not ended:
            return
        wait_for_copies(self.pipeline.placement()[0])
        if any(search.cohort.on_result is not None for search in ended):
            self.writer.flush()  # a result is handed out only once its candidates are journaled
        for search in ended:
            self.searches.remove(search)
            self.progress.finished += 1
            if not search.cohort.cancelled:
                result = choose(search, search.scorer.aggregate, search.settings.algorithm.name)
                search.cohort.results.append(result)
                if search.cohort.on_result is not None:
                    search.cohort.on_result(result)
            search.cohort.ended += 1  # after its result is handed out: ``Cohort.over`` is read from other threads
        self.encodings.keep(search.task.condition for search in self.searches)

    def _charge(self, search: SearchRun, proposals: list[Proposal]) -> None:
        """Check the round's proposals (unique ids, known parents) and charge their NFEs before evaluating them."""
        name = search.settings.algorithm.name
        seen = set(search.asked)
        for proposal in proposals:
            if proposal.id in seen:
                raise AlgorithmError(f"algorithm {name!r} proposed candidate id {proposal.id} more than once in "
                                     f"search {search.task.condition.key!r}: every proposal needs an id of its own")
            seen.add(proposal.id)
        costs = [self._cost(search, proposal) for proposal in proposals]
        cost = sum(costs)
        budget = search.settings.budget_nfe
        if search.nfe + cost > budget:
            raise AlgorithmError(f"algorithm {name!r} asked for {cost} NFEs with {budget - search.nfe} NFEs of its "
                                 "budget left: a bug in the algorithm")
        search.asked.update(proposal.id for proposal in proposals)
        search.nfe += cost
        search.costs.update(zip((proposal.id for proposal in proposals), costs))
        self.progress.charged += cost

    def _cost(self, search: SearchRun, proposal: Proposal) -> int:
        self.evaluator.check(search.settings.algorithm, proposal)
        level = None
        if proposal.start is not None:
            if proposal.start not in search.states:
                raise AlgorithmError(f"proposal {proposal.id} continues candidate {proposal.start}, which kept no "
                                     "state")
            level = search.states[proposal.start].level
        if proposal.gradient and (proposal.start is not None or proposal.stop > 0):
            raise AlgorithmError("gradient proposals start from a fresh noise and stop at sigma = 0")
        return search.context.cost(level, proposal.stop, proposal.renoise_to, proposal.stochastic, proposal.gradient)

    def _evaluations(self, pending: list[tuple[SearchRun, Proposal]]) -> list[Evaluated]:
        """Evaluations of every pending proposal, integrated: replayed where journaled, else computed (by this rank's
        shard). Without shards each chunk is journaled and integrated as it comes; with shards, once gathered."""
        found = replayed(pending, self.progress)
        integrate(pending, found, self.pipeline)
        if self.shard is None:  # every proposal goes in, so that the chunks a resumed round computes are the run's
            items = [(i, *pending[i]) for i in range(len(pending))]
            found.update(self._compute(items, lambda chunk: settle(pending, chunk, self.writer, self.pipeline), found))
        else:
            todo = [i for i in range(len(pending)) if i not in found]
            device = self.pipeline.placement()[0]
            computed = self._compute([(i, *pending[i]) for i in todo[self.shard.rank::self.shard.world]])
            journal(pending, computed, self.writer, device)
            wait_for_copies(device)
            for part in self.shard.gather({i: evaluation.to_cpu() for i, evaluation in computed.items()}):
                integrate(pending, part, self.pipeline)
                found.update(part)
        self.progress.evaluated = self.progress.charged  # every proposal of the round is evaluated (other ranks')
        return [found[i] for i in range(len(pending))]

    def _compute(self, items: list[tuple[int, SearchRun, Proposal]],
                 settle_chunk: Optional[Callable[[dict[int, Evaluated]], None]] = None,
                 replayed: Container[int] = ()) -> dict[int, Evaluated]:
        """Evaluate proposals in chunks sharing one plan and scorer, but for chunks wholly ``replayed``;
        ``settle_chunk`` takes the new evaluations of each chunk."""
        groups: dict[tuple, list] = {}
        for i, search, proposal in items:
            level = search.states[proposal.start].level if proposal.start is not None else None
            key = (level, proposal.renoise_to, proposal.stochastic, proposal.stop, proposal.gradient,
                   proposal.scored, id(search.scorer))
            groups.setdefault(key, []).append((i, search, proposal))
        computed: dict[int, Evaluated] = {}

        def done(chunk: list, evaluations: dict[int, Evaluated]) -> None:
            new = [(i, search, proposal) for i, search, proposal in chunk if i not in replayed]
            evaluations = {i: evaluations[i] for i, _, _ in new}
            computed.update(evaluations)
            if settle_chunk is not None:
                settle_chunk(evaluations)
            for _, search, proposal in new:
                search.count_evaluated(proposal.id)
            self.progress.chunk_evaluated(sum(search.costs[p.id] for _, search, p in new), len(evaluations))
            self._observe()

        self.evaluator.thumbnails = any(search.recorder.keeps_tensors for _, search, _ in items)
        for members in groups.values():
            if members := unfinished_chunks(members, self.runner.sizes, replayed):
                self.runner.run(members, self.evaluator.evaluate, self.evaluator.warm_up, done)
        return computed

    def _observe(self) -> None:
        for observer in self.observers:
            observer(self.progress, self.searches)

    def _tick(self, made: int) -> None:
        """Inside a chunk, after a denoiser call: the chunk has made ``made`` NFEs so far."""
        self.progress.chunk_moved(made, self.progress.in_flight)
        for ticker in self.tickers:
            ticker(self.progress)
