"""One inference worker: the server's models loaded once, one engine loop over them that runs every job the worker
holds (their searches share its chunks), and a scheduler thread that claims jobs from the jobs folder, admits them
to the loop, cancels them and finishes them. A job's run is an ordinary run folder: what the worker journals, a
restarted server resumes."""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch

from .. import registry
from ..api import config_text
from ..conditions import Condition
from ..engine import Admissions, Cohort, Executor, Fixed, NfeProgress, Recorder, Scorer, SearchResult, Task
from ..engine.selection import best_so_far
from ..engine.state import SearchRun
from ..errors import UsageError
from ..imaging import to_pil
from ..run.models import Models
from ..run.session import RunSession
from ..run.settings import RunSettings, build
from ..run.summary import result_record
from ..store.folder import RunDir
from ..store.journal import MemoryJournal
from ..store.run_records import Summary
from .jobs import ACTIVE, Claim, Job, JobStore

log = logging.getLogger("noisesearch.serve")  # one line per job as it ends (``noisesearch serve`` shows INFO)
PROGRESS_EVERY_S = 0.5  # progress.json at most this often per job
EVENT_EVERY_S = 1.0  # a progress event in events.jsonl at most this often per job
MAX_POINTS = 512  # scores in one candidates event at most (the latest)
CANCEL_EVERY_S = 0.25  # cancel markers read this often
RESCAN_S = 2.0  # the whole jobs folder read at least this often
ATTEMPTS = 2  # a job whose loop failed this often (the second time alone) fails


@dataclass(eq=False)
class JobRun:
    """A job this worker holds: its claim, its run, its cohort in the loop, and what it has reported."""

    job: Job
    claim: Claim
    session: Optional[RunSession]  # None: a job that failed before its run started
    cohort: Optional[Cohort]
    written: float = 0.0
    evented: float = 0.0
    seen: dict[int, int] = field(default_factory=dict)  # search index: its finished candidates reported so far
    best: dict[int, int] = field(default_factory=dict)  # search index: the candidate last reported as its best

    @property
    def solo(self) -> bool:
        """A job that was in a loop that failed runs alone, so a failure is its own."""
        return self.job.attempts > 0


def png_b64(image: torch.Tensor) -> str:
    """An image tensor (C, H, W in [0, 1]) as base64 PNG."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def one_line(error: Exception) -> str:
    """An error as a job records it: a refusal's own line; anything else named by its type."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return message if isinstance(error, UsageError) else f"{type(error).__name__}: {message}"


class Worker:
    """Runs the jobs of ``store`` on ``device``: ``start`` loads the models and starts the loop and the scheduler,
    ``stop`` ends them (unfinished jobs stay in the folder for the next worker)."""

    def __init__(self, store: JobStore, defaults: dict, device: str = "cpu", name: str = "worker-0",
                 jobs_per_worker: int = 8, poll_s: float = 0.05):
        self.store = store
        self.defaults = defaults
        self.device = torch.device(device)
        self.name = name
        self.jobs_per_worker = jobs_per_worker
        self.poll_s = poll_s
        self.settings: Optional[RunSettings] = None
        self.models: Optional[Models] = None
        self.verifiers: dict[str, torch.nn.Module] = {}
        self.scorers: dict[tuple, Scorer] = {}
        self.held: dict[str, JobRun] = {}
        self.lock = threading.RLock()
        self.admissions = Admissions()
        self.executor: Optional[Executor] = None
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.queue: list[str] = []  # jobs that may be claimed, as last read
        self.scanned = (0, 0.0)  # the jobs folder's time stamp when last read, and when
        self.rescan = False
        self.spent = {"nfe": 0, "candidates": 0, "denoiser_s": 0.0}  # of the loops that failed
        self.beat = (0.0, 0)  # the last heartbeat: when, and the NFEs then
        self.counters = {"jobs_done": 0, "jobs_failed": 0, "jobs_cancelled": 0, "searches_done": 0, "loop_failures": 0}

    # models and the loop
    def start(self) -> None:
        """Load the models once, then run the loop and the scheduler on threads of their own."""
        self.settings = build(**self.defaults)
        self.models = Models(self.settings)
        self.models.prepare(self.device)
        self.models.to(self.device)
        self.models.place_verifiers()
        self.verifiers = dict(zip(self.settings.verifier_specs, self.models.verifiers))
        self.executor = self._executor()
        for target, name in ((self._engine, "engine"), (self._schedule, "scheduler")):
            thread = threading.Thread(target=target, name=f"noisesearch-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.admissions.close()
        for thread in self.threads:
            thread.join(timeout)

    def _executor(self) -> Executor:
        settings = self.settings
        executor = Executor(self.models.pipeline, list(self.models.verifiers), settings.search,
                            keep_images=settings.args.keep_images, background_writes=settings.args.background_writes)
        executor.observe(self._observe)
        return executor

    def _engine(self) -> None:
        """The loop, run until the worker stops; a failure fails the jobs in it over (each then reruns alone)."""
        self._warm_up()
        while not self.stopping.is_set():
            try:
                with torch.no_grad():
                    self.executor.drive(self.admissions)
                return
            except Exception as error:  # noqa: BLE001 - one job's failure must not end the worker
                self.counters["loop_failures"] += 1
                with self.lock:
                    failed = [run for run in self.held.values() if run.cohort is not None]
                    stats = self.executor.stats
                    for name, value in (("nfe", stats.nfe), ("candidates", stats.candidates),
                                        ("denoiser_s", stats.denoiser_s)):
                        self.spent[name] += value
                    self.admissions = Admissions()
                    self.executor = self._executor()
                for run in failed:
                    self._loop_failed(run, error)

    def _warm_up(self) -> None:
        """One sample through the loop's thread before any job (first calls pay one-time costs), journaled nowhere
        and counted in no job."""
        family = self.settings.family
        condition = Condition(class_label=0) if family.condition_kind == "class" else Condition(prompt="a photo")
        plain = registry.lookup("algorithms", "random").cls
        settings = dataclasses.replace(self.settings.search, algorithm=plain, params=plain.parse_params(None),
                                       budget_nfe=self.settings.sample_nfe)
        cohort = Cohort([Task(0, condition, 0)], settings, self._scorer(self.settings), Recorder(MemoryJournal()))
        warm = self._executor()
        try:
            with torch.no_grad():
                warm.drive(Fixed(cohort))
        except Exception as error:  # noqa: BLE001 - a warm-up that fails says so; the jobs then say why they fail
            log.warning("noisesearch serve: the warm-up search failed: %s", error)

    def _loop_failed(self, run: JobRun, error: Exception) -> None:
        message = one_line(error)
        run.job.attempts += 1
        if run.job.attempts >= ATTEMPTS:
            self._end(run, "failed", error=message)
            return
        log.warning("noisesearch serve: job %s: the loop failed (%s); it reruns alone", run.job.id, message)
        run.job.state, run.job.error = "queued", message
        self._release(run)

    # the scheduler
    def _schedule(self) -> None:
        """Finish what ended and claim a job every ``poll_s``; cancel what was asked four times a second; report
        once a second. Few file operations: each one costs the loop's thread the GIL."""
        cancels = beat = 0.0
        while not self.stopping.is_set():
            try:
                self._finish_ended()
                self._claim_one()
                now = time.monotonic()
                if now - cancels >= CANCEL_EVERY_S:
                    cancels = now
                    self._cancel_asked()
                if now - beat >= 1.0:
                    beat = now
                    self._heartbeat()
            except Exception:  # noqa: BLE001 - the scheduler must outlive a bad job folder
                log.exception("noisesearch serve: the scheduler failed; it goes on")
            self.stopping.wait(self.poll_s)

    def _waiting(self) -> list[str]:
        """The ids of jobs that may be claimed, oldest first: the jobs folder is read again when a job was added to
        it (its time stamp moved), when this worker let one go, or every few seconds (a dead worker's jobs)."""
        stamp, now = self.store.root.stat().st_mtime_ns, time.monotonic()
        if stamp != self.scanned[0] or now - self.scanned[1] >= RESCAN_S or self.rescan:
            self.scanned, self.rescan = (stamp, now), False
            self.queue = [job.id for job in self.store.jobs(states=ACTIVE) if job.id not in self.held]
        return self.queue

    def _heartbeat(self) -> None:
        """This worker's counters for ``GET /metrics`` (summed over the loops it ran, a failed one's included)."""
        stats, now = self.executor.stats, time.monotonic()
        nfe = self.spent["nfe"] + stats.nfe
        rate = (nfe - self.beat[1]) / (now - self.beat[0]) if self.beat[0] else 0.0
        self.beat = (now, nfe)
        verifier_s: dict[str, float] = {}
        for scorer in self.scorers.values():
            for name, seconds in scorer.seconds.items():
                verifier_s[name] = verifier_s.get(name, 0.0) + seconds
        self.store.write_worker(self.name, {**self.counters, "jobs_running": len(self.held),
                                            "searches_running": sum(run.job.spec.searches for run in self._runs()),
                                            "nfe": nfe, "nfe_per_s": round(rate, 3),
                                            "candidates": self.spent["candidates"] + stats.candidates,
                                            "denoiser_s": self.spent["denoiser_s"] + stats.denoiser_s,
                                            "verifier_s": verifier_s, "device": str(self.device), "pid": os.getpid()})

    def _runs(self) -> list[JobRun]:
        with self.lock:
            return list(self.held.values())

    def _cancel_asked(self) -> None:
        for run in self._runs():
            if run.cohort is not None and not run.cohort.cancelled and self.store.cancel_asked(run.job.id):
                self.admissions.cancel(run.cohort)

    def _finish_ended(self) -> None:
        for run in self._runs():
            if run.cohort is None or run.cohort.over:
                self._end(run, "cancelled" if run.cohort is not None and run.cohort.cancelled else "done")

    def _claim_one(self) -> None:
        """Claim the oldest job no worker holds, if this one has room: one a poll, so idle workers share a burst.
        A job whose loop failed runs alone."""
        if len(self.held) >= self.jobs_per_worker or any(run.solo for run in self._runs()):
            return
        waiting = self._waiting()
        while waiting:
            job_id = waiting.pop(0)
            job = self.store.get(job_id)
            if job is None or job.state not in ACTIVE or job.attempts and self.held:
                continue
            claim = self.store.claim(job_id)
            if claim is None:  # another worker's; a dead worker's comes back with the next full read
                continue
            job = self.store.get(job_id)  # read again under the lock: another worker may have ended it
            if job is None or job.state not in ACTIVE:
                claim.release()
                continue
            self._take(job, claim)
            return

    def _take(self, job: Job, claim: Claim) -> None:
        """Start (or resume) a claimed job's run and admit its searches to the loop."""
        try:
            settings = build(**job.spec.model)
            tasks = job.spec.tasks()
            settings.check_tasks(tasks)
            folder = self.store.folder(job.id)
            resume = RunDir(folder).can_resume()
            session = RunSession(settings, folder, seed=job.spec.seed, resume=resume, overwrite=not resume)
            session.check_folder()
            if self.store.cancel_asked(job.id) and not resume:
                run = JobRun(job, claim, session, None)
                self._end(run, "cancelled")
                return
            session.open(self._config(settings, job, folder))
            job.state, job.worker = "running", self.name
            job.started = job.started or time.time()
            self.store.write(job)
            run = JobRun(job, claim, session, None)
            cohort = session.join(tasks, self._scorer(settings), lambda result: self._result(run, result))
            run.cohort = cohort
            if cohort is not None:
                self.executor.check_cohort(cohort)
        except Exception as error:  # noqa: BLE001 - a job the loop cannot take fails alone
            self._end(JobRun(job, claim, None, None), "failed", one_line(error))
            return
        with self.lock:
            self.held[job.id] = run
            if cohort is not None:
                self.admissions.add(cohort)
        log.debug("noisesearch serve: job %s: %s %d searches on %s", job.id, "resumed" if resume else "started",
                 len(tasks), self.name)

    def _config(self, settings: RunSettings, job: Job, folder) -> str:
        """The job's config.yaml: ``noisesearch predict --config`` on it makes the same results."""
        conditions, spec = [Condition(**c) for c in job.spec.conditions], job.spec
        if settings.family.condition_kind == "class":
            return config_text(settings, [c.class_label for c in conditions], None, spec.per_condition, spec.seed,
                               folder)
        return config_text(settings, None, [c.prompt for c in conditions], spec.per_condition, spec.seed, folder)

    def _scorer(self, settings: RunSettings) -> Scorer:
        """One scorer per set of verifiers and ensemble: jobs that share one share chunks."""
        key = (settings.verifier_specs, settings.search.ensemble, settings.search.weights)
        if key not in self.scorers:
            verifiers = []
            for spec, (cls, argument) in zip(settings.verifier_specs, settings.verifier_classes):
                if spec not in self.verifiers:
                    verifier = cls(argument)
                    verifier.attach(self.settings.family)
                    self.verifiers[spec] = verifier.to(self.device).eval()
                verifiers.append(self.verifiers[spec])
            search = settings.search
            self.scorers[key] = Scorer(verifiers, search.ensemble, search.weights, search.clip_frames,
                                       search.clip_aggregate)
        return self.scorers[key]

    # what the loop reports (on the engine thread)
    def _result(self, run: JobRun, result: SearchResult) -> None:
        record = result_record(result).to_json()
        self.store.add_event(run.job.id, {"type": "result", "record": record})
        self.counters["searches_done"] += 1

    def _observe(self, progress: NfeProgress, searches: Sequence[SearchRun]) -> None:
        now = time.monotonic()
        with self.lock:
            runs = list(self.held.values())
        for run in runs:
            cohort = run.cohort
            if cohort is None or not cohort.admitted:
                continue
            self._report_candidates(run)  # new candidates come once a round: never held back
            if now - run.written < PROGRESS_EVERY_S:
                continue
            run.written = now
            figures = self._figures(run)
            self.store.write_progress(run.job.id, figures)
            if now - run.evented >= EVENT_EVERY_S:
                run.evented = now
                self.store.add_event(run.job.id, {"type": "progress", **figures})

    def _figures(self, run: JobRun) -> dict:
        settings, session, cohort = run.session.settings, run.session, run.cohort
        nfe = session.charged + sum(search.evaluated for search in cohort.searches)
        budget = settings.search.budget_nfe * run.job.spec.searches
        seconds = time.perf_counter() - session.began
        left = None
        if settings.search.budget_seconds is not None:
            left = max(0.0, settings.search.budget_seconds - seconds)
        elif nfe > 0:
            left = (budget - nfe) * seconds / nfe
        return {"nfe": nfe, "budget_nfe": budget, "searches": run.job.spec.searches,
                "searches_done": session.done + len(cohort.results), "best": session.best_of(cohort.searches),
                "seconds": round(seconds, 3), "seconds_left": None if left is None else round(left, 3)}

    def _report_candidates(self, run: JobRun) -> None:
        """Each search's candidates finished since the last report (its NFEs then, the first verifier's scores),
        and the image it would return whenever that changes (what it returns in the end, if nothing beats it)."""
        cls = run.session.settings.verifier_classes[0][0]
        for index, search in enumerate(run.cohort.searches):
            rows = search.levels.get(0.0, [])
            new, run.seen[index] = rows[run.seen.get(index, 0):], len(rows)
            if not new:
                continue
            self.store.add_event(run.job.id, {"type": "candidates", "index": index, "nfe": search.evaluated,
                                              "verifier": cls.name, "higher_is_better": cls.higher_is_better,
                                              "scores": [search.raw[i][cls.name] for i, _ in new][-MAX_POINTS:]})
            best = best_so_far(search)
            if best is not None and run.best.get(index) != best[0] and search.finished[best[0]].image is not None:
                run.best[index] = best[0]
                self.store.add_event(run.job.id, {"type": "improved", "index": index, "candidate": best[0],
                                                  "score": best[1], "scores": search.raw[best[0]],
                                                  "nfe": search.evaluated,
                                                  "b64_json": png_b64(search.finished[best[0]].image)})

    # the end of a job
    def _end(self, run: JobRun, state: str, error: Optional[str] = None) -> None:
        """Close a job's run (its summary and report where anything finished), record its state, let it go."""
        summary: Optional[Summary] = None
        if state != "failed":
            try:
                summary = run.session.finish() if run.session is not None and run.session.step == "begun" else None
            except Exception as failure:  # noqa: BLE001 - the job's own failure, recorded on it
                state, error = "failed", one_line(failure)
        job = run.job
        if run.cohort is not None and run.cohort.admitted:  # its searches are the loop's no more: read them here
            self.store.write_progress(job.id, {**self._figures(run), "seconds_left": 0.0})
        job.state, job.ended, job.error = state, time.time(), error
        event: dict = {"type": state}
        if summary is not None:
            event.update(results=[record.to_json() for record in summary.results], cost=summary.cost.to_json())
        if error is not None:
            event["error"] = error
        self.store.add_event(job.id, event)
        self.counters[f"jobs_{state}"] += 1
        self._release(run)
        spent = (f": {len(summary.results)} of {job.spec.searches} searches, {summary.cost.nfe_used} NFEs, "
                 f"{summary.cost.elapsed_s:.2f} s" if summary is not None else "")
        log.info("noisesearch serve: job %s %s on %s%s%s", job.id, state, self.name, spent,
                 f": {error}" if error else "")

    def _release(self, run: JobRun) -> None:
        session = run.session
        if session is not None and session.step != "finished" and session.journal is not None:
            session.journal.close()
        self.store.write(run.job)
        with self.lock:
            self.held.pop(run.job.id, None)
        run.claim.release()
        self.rescan = self.rescan or run.job.state in ACTIVE
