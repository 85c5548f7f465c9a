"""One run in one folder, without Lightning: it checks the folder, carries out the folder plan on rank 0, opens
this rank's journal and replay, runs tasks through the executor, writes results, and at the end the summary, grid
and report. ``noisesearch predict`` (through Lightning's hooks) and ``noisesearch.search`` both drive it; a run
without a folder has one in memory (``MemoryFolder``), behind the same interface.

The session enforces the order of its calls: ``check_folder``, ``open``, ``begin``, ``run`` (any number of times),
``finish``; ``search`` makes them all for one process.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch

from .. import model_args
from ..engine import (Cohort, Executor, ExecutorStats, NfeProgress, Recorder, Scorer, SearchResult, Shard,
                      SignalStop, Task)
from ..engine.state import SearchRun
from ..errors import Stopped, UsageError, peer_lost, version
from ..store.folder import FolderPlan, MemoryFolder, RunDir
from ..store.journal import NO_SPACE, DiskFullError
from ..store.records import CandidateRecord, ResultRecord
from ..store.run_records import Part, RunHeader, Summary
from .console import Console
from .models import Models
from .progress import RoundReport
from .report.page import judged_searches, with_verdicts, write_report
from .report.table import ending
from .settings import RunSettings
from .summary import cost, draw_grid_of, save_result

# recorded in run.json but free to change on resume: they change memory and speed, never results
MEMORY_ONLY = {"noisesearch", *model_args.MEMORY_ONLY}
STEPS = ("new", "checked", "open", "begun", "finished")  # the session's states, in the order its calls move it

Barrier = Callable[[str], None]


def no_barrier(name: str) -> None:
    """One process: nobody to wait for."""


class RunSession:
    """A run from start to end, in ``folder`` (a path) or, without one, in memory."""

    def __init__(self, settings: RunSettings, folder: Union[str, Path, None] = None, *, seed: int = 0,
                 resume: bool = False, overwrite: bool = False, console: Optional[Console] = None):
        self.settings = settings
        self.folder = RunDir(folder) if folder is not None else MemoryFolder()
        self.seed = seed
        self.resume = resume
        self.overwrite = overwrite
        self.console = console or Console(quiet=True)
        self.step = "new"
        self.replay: dict[tuple, CandidateRecord] = {}
        self.finished: dict[tuple, ResultRecord] = {}
        self.journal = None
        self.executor: Optional[Executor] = None
        self.rank, self.world, self.writes_results = 0, 1, True
        self.elapsed_s = 0.0
        self.earlier_part = Part()
        self.listeners: list[Callable[[RoundReport], None]] = []
        self.wants_best = False
        self.charged = 0  # NFEs of the searches this part found finished (skipped on resume)
        self.done = 0
        self.began = time.perf_counter()
        self.best: Optional[float] = None

    @property
    def out(self) -> str:
        return str(self.folder)

    def _move(self, call: str, wanted: tuple[str, ...], to: Optional[str] = None) -> None:
        """Refuse a call out of order (a bug in the caller, not the user's to fix)."""
        if self.step not in wanted:
            raise RuntimeError(f"RunSession.{call} called when the session is {self.step}; the order is check_folder, "
                               "open, begin, run (any number of times), finish")
        self.step = to or self.step

    # (a) checks every rank makes before anything is written: the folder and the fingerprint
    def check_folder(self) -> None:
        """Refuse a folder that holds another run (unless overwriting); on resume, read the journal to replay, and
        refuse settings that changed since the run started."""
        self._move("check_folder", ("new",), "checked")
        if self.resume:
            if not self.folder.can_resume():
                raise UsageError(f"{self.folder} is no noisesearch run to resume: it has no journal/ (start one "
                                 "with `noisesearch predict --out DIR`)")
            self.replay, self.finished = self.folder.read_run()
        elif not self.overwrite and self.folder.holds_run():
            raise UsageError(f"--out {self.folder} already holds a run; pick another --out, `noisesearch resume "
                             f"{self.folder}`, or pass --overwrite true")
        self.fingerprint()

    def describe(self) -> RunHeader:
        """The settings that fix the run's results."""
        return RunHeader.from_json(self.settings.describe(self.seed))

    def fingerprint(self) -> Optional[RunHeader]:
        """The settings that fix results, to record when the run starts; on resume, refuse settings that changed
        since the start (None: already recorded)."""
        current = dataclasses.replace(self.describe(), noisesearch=version())
        started = self.folder.read_fingerprint() if self.resume else None
        if started is None:
            return current
        recorded, now = started.to_json(), current.to_json()
        # settings a run's older version did not record (model.mode, model.offload) are not compared
        changed = [f"{key} {recorded.get(key)!r} -> {now.get(key)!r}" for key in sorted(started.keys)
                   if key not in MEMORY_ONLY and recorded.get(key) != now.get(key)]
        if changed:
            raise UsageError(f"cannot resume {self.folder}: its settings changed since it started "
                             f"({'; '.join(changed)}); restore its config.yaml or start a new run")
        return None

    def is_done(self, tasks: Sequence[Task]) -> bool:
        """Whether a resumed run has every search of ``tasks`` finished and its summary written already."""
        self._move("is_done", ("checked",))
        return (self.resume and self.folder.is_finished()
                and all((task.condition.key, task.repeat) in self.finished for task in tasks))

    # (b) the folder: rank 0 carries out the plan, then each rank opens its journal
    def open(self, config_text: Optional[str] = None, rank: int = 0, world: int = 1, barrier: Barrier = no_barrier,
             writes_results: bool = True) -> None:
        """Prepare the folder (global rank 0 alone, the others wait) and open this rank's journal."""
        self._move("open", ("checked",), "open")
        self.rank, self.world, self.writes_results = rank, world, writes_results
        if rank == 0:
            self.folder.start(FolderPlan(clear=self.overwrite and not self.resume,
                                         config=None if self.resume else config_text, fingerprint=self.fingerprint()))
        self._wait(barrier, "noisesearch-folder")
        self.folder.prepare()
        self.journal = self.folder.open_journal(rank)
        self.earlier_part = (self.folder.read_part(rank) if self.resume else None) or Part()
        self.folder.clear_part(rank)

    # (c) searches
    def begin(self, models: Models, stop_requested: Callable[[], Optional[str]] = lambda: None,
              shard_candidates: bool = False) -> None:
        """Make this rank's executor over the loaded models (after ``open``)."""
        self._move("begin", ("open",), "begun")
        models.place_verifiers()
        settings = dataclasses.replace(self.settings.search, seed=self.seed)
        shard = None
        if shard_candidates and self.world > 1:
            shard = Shard(self.rank, self.world,
                          functools.partial(gather_objects, rank=self.rank, world=self.world, out=self.out))
        self.executor = Executor(models.pipeline, list(models.verifiers), settings, self.journal, self.replay, shard,
                                 self.settings.args.keep_images, self.settings.args.background_writes)
        self.executor.stoppers.append(SignalStop(stop_requested))
        self.executor.observe(self._progress, self._tick)
        self.elapsed_s = 0.0
        self.began = time.perf_counter()
        if self.rank == 0:
            self.console.text(self.settings.headline(f"{self.world} processes" if self.world > 1 else
                                                     str(models.device)))
            self.console.event("start", **self.describe().to_json(), world_size=self.world)

    def watch(self, listener: Callable[[RoundReport], None], best: bool = False) -> None:
        """Call ``listener`` after every chunk of candidates and every denoiser call (progress bars, Lightning
        loggers); with ``best`` its reports carry the best score so far, read after every chunk from the finished
        candidates of the running searches."""
        self.listeners.append(listener)
        self.wants_best = self.wants_best or best

    def _progress(self, progress: NfeProgress, searches: Sequence[SearchRun]) -> None:
        """After a chunk or a round: tell the listeners where the run stands, with the best score so far."""
        if not self.listeners:
            return
        if searches and self.wants_best:
            self.best = self.best_of(searches)
        self._tick(progress)

    def _tick(self, progress: NfeProgress) -> None:
        """Tell the listeners where the run stands: NFEs done (of the searches found finished, and the loop's
        record), searches finished, the executor's figures and the best score so far."""
        if not self.listeners:
            return
        stats = self.stats
        report = RoundReport(done=self.charged + progress.done, finished=self.done + progress.finished,
                             candidates=stats.candidates, computed=stats.nfe,
                             seconds=time.perf_counter() - self.began, best=self.best, extra=progress.baseline)
        for listener in self.listeners:
            listener(report)

    def best_of(self, searches: Sequence[SearchRun]) -> Optional[float]:
        """The mean over searches of the best finished raw score so far of the first verifier (None before any)."""
        cls, _ = self.settings.verifier_classes[0]
        pick = max if cls.higher_is_better else min
        bests = [pick(s.raw[i][cls.name] for i, _ in s.levels[0.0]) for s in searches if s.levels.get(0.0)]
        return sum(bests) / len(bests) if bests else None

    def round_left(self) -> Optional[float]:
        """Seconds until the round in flight is evaluated, from this process's NFE rate so far (None before any)."""
        seconds, computed = time.perf_counter() - self.began, self.stats.nfe
        if self.executor is None or computed <= 0:
            return None
        return self.executor.progress.in_flight * seconds / computed

    @property
    def stats(self) -> ExecutorStats:
        return self.executor.stats if self.executor is not None else ExecutorStats(0, 0, 0.0, {}, None)

    def join(self, tasks: Sequence[Task], scorer: Optional[Scorer] = None,
             on_result: Optional[Callable[[SearchResult], None]] = None) -> Optional[Cohort]:
        """This run's unfinished searches as one cohort for a loop that runs already (a server's), instead of
        ``begin`` and ``run``: journaled in this session's folder, each result written as its search ends, then
        handed to ``on_result`` (None: every search finished already). ``scorer`` None: the loop's verifiers."""
        self._move("join", ("open",), "begun")
        self.began = time.perf_counter()
        todo = self._todo(tasks, skip_finished=True)
        if not todo:
            return None
        settings = dataclasses.replace(self.settings.search, seed=self.seed)
        recorder = Recorder(self.journal, self.replay, self.settings.args.keep_images)

        def written(result: SearchResult) -> None:
            result.seconds = round(time.perf_counter() - self.began, 4)  # in a shared loop: since the run joined
            self.write([result])
            if on_result is not None:
                on_result(result)

        return Cohort(todo, settings, scorer, recorder, written)

    def _todo(self, tasks: Sequence[Task], skip_finished: bool) -> list[Task]:
        """The tasks whose searches are not finished yet (those found finished are counted as done)."""
        todo = [task for task in tasks if not (skip_finished and (task.condition.key, task.repeat) in self.finished)]
        skipped = [self.finished[(task.condition.key, task.repeat)] for task in tasks if task not in todo]
        self.charged += sum(record.nfe for record in skipped)
        self.done += len(skipped)
        return todo

    def run(self, tasks: Sequence[Task], skip_finished: bool = True) -> list[SearchResult]:
        """Run the searches of ``tasks`` not finished yet; results are written as they complete."""
        self._move("run", ("begun",))
        todo = self._todo(tasks, skip_finished)
        if not todo:
            return []
        started, warmed = time.perf_counter(), self.stats.warmup_s
        with torch.no_grad():
            try:
                results = self.executor.run(todo)
            except Stopped as stop:
                self.elapsed_s += time.perf_counter() - started - (self.stats.warmup_s - warmed)
                self.write_part()
                raise Stopped(f"{stop}: every candidate journaled so far is kept, and `noisesearch resume "
                              f"{self.out}` continues the run", stop.exit_code) from None
        elapsed = time.perf_counter() - started - (self.stats.warmup_s - warmed)  # compiling is reported apart
        self.elapsed_s += elapsed
        self._tick(self.executor.progress)
        total = sum(result.nfe for result in results)
        for result in results:  # searches share batches: each gets the batch's time in proportion to its NFEs
            result.seconds = round(elapsed * (result.nfe / total if total else 1 / len(results)), 4)
        self.write(results)
        return results

    def write(self, results: Sequence[SearchResult]) -> None:
        """Each result's PNG and noise (in a folder on disk), then its journal line (the run's record that the
        search finished)."""
        if not self.writes_results or not results:
            return
        try:
            records = [save_result(self.folder, result) for result in results]
        except OSError as error:
            if error.errno in NO_SPACE:
                raise DiskFullError(f"no space left while writing results to {self.out}: free space, then "
                                    f"`noisesearch resume {self.out}`") from None
            raise
        self.journal.append(records)
        for record in records:
            self.finished[record.key] = record
            self.console.event("search", **record.to_json())

    # (d) the end: this rank's part, then rank 0 writes the summary, grid and report
    def write_part(self) -> None:
        if self.executor is None:  # joined a shared loop: its wall time; the loop's device seconds are not its own
            self.elapsed_s = time.perf_counter() - self.began
        stats = self.stats
        self.folder.write_part(self.rank, self.earlier_part.plus(self.elapsed_s, stats.denoiser_s, stats.verifier_s,
                                                                 stats.batch_size, stats.auto, stats.warmup_s))

    def finish(self, barrier: Barrier = no_barrier) -> Optional[Summary]:
        """Close this rank's part of the run; global rank 0 then writes summary.json, grid.png and report.html
        (a folder in memory keeps the summary) and returns the summary."""
        self._move("finish", ("begun",), "finished")
        self.write_part()
        self.journal.close()
        self._wait(barrier, "noisesearch-summary")
        if self.rank != 0:
            return None
        candidates, results = self.folder.read_run()
        records = sorted(results.values(), key=lambda r: r.index)
        timed = self.settings.search.budget_seconds is not None and records
        spent = cost(self.folder.read_parts(self.world), candidates,
                     [min(r.nfe for r in records), max(r.nfe for r in records)] if timed else None)
        header, prepared = self.describe(), None
        if isinstance(self.folder, RunDir):  # the world's judge reads the journal's images (a run in memory: none)
            prepared = judged_searches(self.folder, header)
            records = with_verdicts(records, prepared[0]) if prepared[1] else records
        summary = Summary(header, spent, records)
        self.folder.write_summary(summary)
        report = None
        if isinstance(self.folder, RunDir):  # the views are files: a run in memory has none
            draw_grid_of(self.folder, summary, self.settings.family.class_names)
            report = write_report(self.folder.path, prepared)
        self._announce(summary, report)
        return summary

    def _announce(self, summary: Summary, report: Optional[Path]) -> None:
        """The end of a run in the terminal (the table, what search did, the cost) and as a JSON event."""
        wrote = f"; wrote {self.out}/summary.json and {report.name}" if report is not None else ""
        timed = self.settings.search.budget_seconds is not None
        lines, warning = ending(summary, wrote, warn_unspent=self.settings.search.algorithm.uses_budget and not timed)
        for line in lines:
            self.console.text(line)
        if warning:
            self.console.warn(warning)
        where = self.folder.path
        self.console.event("end", nfe_used=summary.cost.nfe_used, elapsed_s=summary.cost.elapsed_s,
                           verifier_s=summary.cost.verifier_s,
                           summary=str(where / "summary.json") if where is not None else None,
                           report=str(report) if report is not None else None,
                           grid=str(where / "grid.png") if where is not None else None)

    def search(self, models: Models, tasks: Sequence[Task], device: Union[str, torch.device] = "cpu",
               config_text: Optional[str] = None) -> tuple[list[SearchResult], Optional[Summary]]:
        """The whole run in this process: check, load the models on ``device``, open, begin, run, finish."""
        self.check_folder()
        models.prepare(torch.device(device))
        models.to(device)
        self.open(config_text)
        self.begin(models)
        results = self.run(tasks, skip_finished=False)
        return results, self.finish()

    def _wait(self, barrier: Barrier, name: str) -> None:
        try:
            barrier(name)
        except RuntimeError as error:  # gloo and NCCL report a dead or silent peer as RuntimeError
            raise peer_lost(self.rank, self.world, error, self.out) from None


def gather_objects(payload, rank: int = 0, world: int = 1, out: str = "the run folder"):
    """All-gather a picklable object from every rank (torch.distributed; gloo or nccl); a lost peer is one line."""
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(gathered, payload)
    except RuntimeError as error:  # gloo and NCCL report a dead or silent peer as RuntimeError
        raise peer_lost(rank, world, error, out) from None
    return gathered
