"""One run in one folder, without Lightning: it checks the folder, carries out the folder plan on rank 0, opens
this rank's journal and replay, runs tasks through the executor, writes results, and at the end the summary, grid
and report. ``noisesearch predict`` (through Lightning's hooks) and ``noisesearch.search(out=DIR)`` both drive it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch

from ..engine import Executor, ExecutorStats, SearchResult, Shard, Task
from ..engine.state import SearchRun
from ..errors import Stopped, UsageError, peer_lost, version
from ..store.folder import FolderPlan, RunDir
from ..store.journal import NO_SPACE, DiskFullError, Journal, read_run
from ..store.records import CandidateRecord, ResultRecord
from .console import Console
from .models import Models
from .progress import RoundReport
from .report.page import write_report
from .report.table import format_cost, format_effect, format_table, unspent
from .settings import RunSettings
from .summary import add_part, cost, save_result, write_summary

# recorded in run.json but free to change on resume: they change memory and speed, never results
MEMORY_ONLY = {"noisesearch", "offload", "background_writes"}

Barrier = Callable[[str], None]


def no_barrier(name: str) -> None:
    """One process: nobody to wait for."""


class RunSession:
    """A run from start to end. Without a ``folder`` it runs searches and keeps nothing (``noisesearch.search``)."""

    def __init__(self, settings: RunSettings, folder: Union[str, Path, None] = None, *, seed: int = 0,
                 resume: bool = False, overwrite: bool = False, console: Optional[Console] = None):
        self.settings = settings
        self.run_dir = RunDir(folder) if folder is not None else None
        self.seed = seed
        self.resume = resume
        self.overwrite = overwrite
        self.console = console or Console(quiet=True)
        self.replay: dict[tuple, CandidateRecord] = {}
        self.finished: dict[tuple, ResultRecord] = {}
        self.journal: Optional[Journal] = None
        self.executor: Optional[Executor] = None
        self.rank, self.world, self.writes_results = 0, 1, True
        self.elapsed_s = 0.0
        self.earlier_part: Optional[dict] = None
        self.listeners: list[Callable[[RoundReport], None]] = []
        self.wants_best = False
        self.charged = 0  # NFEs of the searches this part has finished or found finished
        self.done = 0
        self.began = time.perf_counter()
        self.best: Optional[float] = None

    @property
    def out(self) -> str:
        return str(self.run_dir) if self.run_dir is not None else "the run"

    # (a) checks every rank makes before anything is written: the folder and the fingerprint
    def check_folder(self) -> None:
        """Refuse a folder that holds another run (unless overwriting); on resume, read the journal to replay."""
        if self.run_dir is None:
            return
        if self.resume:
            if not self.run_dir.journal_dir.is_dir():
                raise UsageError(f"{self.run_dir} is no noisesearch run to resume: it has no journal/ (start one "
                                 "with `noisesearch predict --out DIR`)")
            self.replay, self.finished = read_run(self.run_dir.journal_dir)
        elif not self.overwrite and self.run_dir.holds_run():
            raise UsageError(f"--out {self.run_dir} already holds a run; pick another --out, `noisesearch resume "
                             f"{self.run_dir}`, or pass --overwrite true")

    def describe(self) -> dict:
        return self.settings.describe(self.seed)

    def fingerprint(self) -> Optional[dict]:
        """The settings that fix results, to record when the run starts; on resume, refuse settings that changed
        since the start (None: already recorded)."""
        current = {**self.describe(), "noisesearch": version()}
        started = self.run_dir.read_fingerprint() if self.resume and self.run_dir is not None else None
        if started is None:
            return current
        # settings a run's older version did not record yet (model.mode, model.offload) take their defaults there
        changed = [f"{key} {started.get(key)!r} -> {current.get(key)!r}" for key in sorted(started)
                   if key not in MEMORY_ONLY and started.get(key) != current.get(key)]
        if changed:
            raise UsageError(f"cannot resume {self.run_dir}: its settings changed since it started "
                             f"({'; '.join(changed)}); restore its config.yaml or start a new run")
        return None

    def is_done(self, tasks: Sequence[Task]) -> bool:
        """Whether a resumed run has every search of ``tasks`` finished and its summary written already."""
        return (self.resume and self.run_dir is not None and self.run_dir.is_finished()
                and all((task.condition.key, task.repeat) in self.finished for task in tasks))

    # (b) the folder: rank 0 carries out the plan, then each rank opens its journal
    def open(self, config_text: Optional[str] = None, rank: int = 0, world: int = 1, barrier: Barrier = no_barrier,
             writes_results: bool = True) -> None:
        """Prepare the folder (global rank 0 alone, the others wait) and open this rank's journal."""
        self.rank, self.world, self.writes_results = rank, world, writes_results
        if self.run_dir is None:
            return
        if rank == 0:
            plan = FolderPlan(clear=self.overwrite and not self.resume,
                              config=None if self.resume else config_text, fingerprint=self.fingerprint())
            self.run_dir.start(plan)
        self._wait(barrier, "noisesearch-folder")
        self.run_dir.prepare()
        self.journal = Journal(self.run_dir.journal_path(rank), rank)
        self.earlier_part = self.run_dir.read_part(rank) if self.resume else None
        self.run_dir.clear_part(rank)

    # (c) searches
    def begin(self, models: Models, stop_requested: Callable[[], Optional[str]] = lambda: None,
              shard_candidates: bool = False) -> None:
        """Make this rank's executor over the loaded models (after ``open``)."""
        models.place_verifiers()
        settings = dataclasses.replace(self.settings.search, seed=self.seed)
        shard = None
        if shard_candidates and self.world > 1:
            shard = Shard(self.rank, self.world,
                          functools.partial(gather_objects, rank=self.rank, world=self.world, out=self.out))
        self.executor = Executor(models.pipeline, list(models.verifiers), settings, self.journal, self.replay, shard,
                                 self.settings.keep_images, self.settings.background_writes)
        self.executor.stop_requested = stop_requested
        self.executor.on_progress = self._progress
        self.elapsed_s = 0.0
        self.began = time.perf_counter()
        if self.rank == 0:
            self.console.text(self.settings.headline(f"{self.world} processes" if self.world > 1 else
                                                     str(models.device)))
            self.console.event("start", **self.describe(), world_size=self.world)

    def watch(self, listener: Callable[[RoundReport], None], best: bool = False) -> None:
        """Call ``listener`` after every chunk of candidates (progress bars, Lightning loggers); with ``best`` its
        reports carry the best score so far, which reads every finished candidate of the running searches."""
        self.listeners.append(listener)
        self.wants_best = self.wants_best or best

    def _progress(self, searches: Sequence[SearchRun], in_flight: int) -> None:
        """Tell the listeners where the run stands: NFEs done (charged, less what the round has still to
        evaluate), searches finished, the executor's figures and the best score so far."""
        if not self.listeners:
            return
        stats = self.stats
        if searches and self.wants_best:
            self.best = self._best(searches)
        report = RoundReport(done=self.charged + sum(s.nfe for s in searches) - in_flight,
                             finished=self.done + sum(s.done for s in searches), candidates=stats.candidates,
                             computed=stats.nfe, seconds=time.perf_counter() - self.began, best=self.best)
        for listener in self.listeners:
            listener(report)

    def _best(self, searches: Sequence[SearchRun]) -> Optional[float]:
        """The mean over searches of the best finished raw score so far of the first verifier (None before any)."""
        cls, _ = self.settings.verifier_classes[0]
        pick = max if cls.higher_is_better else min
        bests = [pick(s.raw[i][cls.name] for i, _ in s.levels[0.0]) for s in searches if s.levels.get(0.0)]
        return sum(bests) / len(bests) if bests else None

    @property
    def stats(self) -> ExecutorStats:
        return self.executor.stats if self.executor is not None else ExecutorStats(0, 0, 0.0, {}, None)

    def run(self, tasks: Sequence[Task], skip_finished: bool = True) -> list[SearchResult]:
        """Run the searches of ``tasks`` not finished yet; results are written as they complete."""
        todo, skipped = [], []
        for task in tasks:
            key = (task.condition.key, task.repeat)
            if skip_finished and key in self.finished:
                skipped.append(key)
            else:
                todo.append(task)
        self.charged += sum(self.finished[key].nfe for key in skipped)
        self.done += len(skipped)
        if not todo:
            return []
        started, warmed = time.perf_counter(), self.stats.warmup_s
        with torch.no_grad():
            try:
                results = self.executor.run(todo)
            except Stopped as stop:
                self.elapsed_s += time.perf_counter() - started - (self.stats.warmup_s - warmed)
                self.write_part()
                raise Stopped(f"{stop}: every candidate evaluated so far is kept, and `noisesearch resume "
                              f"{self.out}` continues the run", stop.exit_code) from None
        elapsed = time.perf_counter() - started - (self.stats.warmup_s - warmed)  # compiling is reported apart
        self.elapsed_s += elapsed
        self.charged += sum(result.nfe for result in results)
        self.done += len(results)
        self._progress([], 0)
        total = sum(result.nfe for result in results)
        for result in results:  # searches share batches: each gets the batch's time in proportion to its NFEs
            result.seconds = round(elapsed * (result.nfe / total if total else 1 / len(results)), 4)
        self.write(results)
        return results

    def write(self, results: Sequence[SearchResult]) -> None:
        """Each result's PNG and noise, then its journal line (the run's record that the search finished)."""
        if self.run_dir is None or not self.writes_results or not results:
            return
        try:
            records = [save_result(self.run_dir, result) for result in results]
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
        if self.run_dir is not None and self.journal is not None:
            self.run_dir.write_part(self.rank, add_part(self.earlier_part, self.stats, self.elapsed_s))

    def finish(self, barrier: Barrier = no_barrier) -> Optional[dict]:
        """Close this rank's part of the run; global rank 0 then writes summary.json, grid.png and report.html."""
        if self.run_dir is None:
            return None
        self.write_part()
        self.journal.close()
        self._wait(barrier, "noisesearch-summary")
        if self.rank != 0:
            return None
        candidates, results = read_run(self.run_dir.journal_dir)
        header = {**self.describe(), **cost(self.run_dir.read_parts(self.world), candidates)}
        records = list(results.values())
        if self.settings.search.budget_seconds is not None and records:
            header["nfe_reached"] = [min(r.nfe for r in records), max(r.nfe for r in records)]
        summary = write_summary(self.run_dir, header, records, self.settings.family.class_names)
        report = write_report(self.run_dir.path)
        self.console.text(format_table(records, header))
        effect = format_effect(records, header)
        if effect:
            self.console.text(effect)
        self.console.text(f"{format_cost(header)}; wrote {self.out}/summary.json and {report.name}")
        if "nfe_reached" in header:
            low, high = header["nfe_reached"]
            reached = f"{low}" if low == high else f"{low} to {high}"
            self.console.text(f"the clock stopped the searches at {reached} NFEs; a rerun with model.budget_nfe set "
                              "to a search's NFEs (summary.json, results) gives its result again")
        timed = self.settings.search.budget_seconds is not None
        warning = unspent(records, header) if self.settings.search.algorithm.uses_budget and not timed else None
        if warning:
            self.console.warn(warning)
        self.console.event("end", nfe_used=header["nfe_used"], elapsed_s=header["elapsed_s"],
                           verifier_s=header["verifier_s"], summary=str(self.run_dir.path / "summary.json"),
                           report=str(report), grid=str(self.run_dir.grid_path))
        return summary

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
