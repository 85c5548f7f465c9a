"""Jobs as run folders under the server's jobs folder: durable (a server killed and started again resumes every
unfinished job and serves the finished ones), run by one worker at a time (an exclusive lock the OS drops when the
worker dies, so another takes the job over), their state, progress and events on disk for the HTTP side to read.

    JOBS/<id>/     job.json (spec, owner, state), progress.json, events.jsonl, cancel (asked), lock,
                   and the run: config.yaml, run.json, journal/, images/, noises/, summary.json, report.html
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..conditions import Condition
from ..engine import Task

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{24}$")  # 144 random bits, URL-safe: unguessable, and safe as a folder name
ACTIVE = ("queued", "running")
ENDED = ("done", "failed", "cancelled")
WORKERS = ".workers"  # each worker's counters (not a job: no job id starts with a dot)


@dataclass(frozen=True)
class JobSpec:
    """What a request asked for, validated: its conditions, searches per condition, the model settings it sets
    (over the server's), the seed, and how it is answered (``images``: the OpenAI route; ``search``: the jobs
    route)."""

    conditions: list[dict]
    per_condition: int
    model: dict[str, Any]
    seed: int = 0
    kind: str = "search"
    stream: bool = False
    partial_images: Optional[int] = None  # streamed: best-so-far images sent at most (None: every improvement)

    def tasks(self) -> list[Task]:
        """The job's searches, numbered as ``noisesearch predict`` numbers them."""
        conditions = [Condition(**condition) for condition in self.conditions]
        return [Task(i * self.per_condition + r, c, r) for i, c in enumerate(conditions)
                for r in range(self.per_condition)]

    @property
    def searches(self) -> int:
        return len(self.conditions) * self.per_condition


@dataclass
class Job:
    """A job as job.json holds it."""

    id: str
    owner: str
    spec: JobSpec
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: Optional[float] = None
    ended: Optional[float] = None
    error: Optional[str] = None
    attempts: int = 0  # times a worker's loop failed while running it (then it reruns alone)
    worker: Optional[str] = None  # the worker running it, or that ran it

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "spec": dataclasses.asdict(self.spec)}

    @classmethod
    def from_json(cls, entry: dict) -> "Job":
        return cls(**{**entry, "spec": JobSpec(**entry["spec"])})


def write_atomic(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` in one step (a reader sees the old file or the new one, never half)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_text(data)
    os.replace(temporary, path)


class Claim:
    """A worker's exclusive hold on a job (an open, locked file): released by ``release`` or by the OS when the
    worker's process ends, however it ends."""

    def __init__(self, handle):
        self.handle = handle

    def release(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class JobStore:
    """The jobs folder: every job's files, read and written here and nowhere else."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ended: set[str] = set()
        self.cache: dict[str, tuple[int, Job]] = {}  # job id: (job.json's mtime, the job read then)

    def folder(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id or ""):
            raise KeyError(job_id)
        return self.root / job_id

    def create(self, spec: JobSpec, owner: str) -> Job:
        job = Job(secrets.token_urlsafe(18), owner, spec)
        folder = self.folder(job.id)
        folder.mkdir()
        self.write(job)
        return job

    def write(self, job: Job) -> None:
        write_atomic(self.folder(job.id) / "job.json", json.dumps(job.to_json(), indent=1) + "\n")

    def get(self, job_id: str) -> Optional[Job]:
        """The job as its job.json says now (read again only when the file changed)."""
        try:
            path = self.folder(job_id) / "job.json"
            stamp = path.stat().st_mtime_ns
            cached = self.cache.get(job_id)
            if cached is not None and cached[0] == stamp:
                return copy.deepcopy(cached[1])
            job = Job.from_json(json.loads(path.read_text()))
        except (KeyError, FileNotFoundError, json.JSONDecodeError):
            return None
        self.cache[job_id] = (stamp, job)
        return copy.deepcopy(job)

    def jobs(self, states: Optional[tuple[str, ...]] = None) -> list[Job]:
        """Every job (or those in ``states``), oldest first. An ended job never changes again, so asking for active
        ones reads no ended job's file twice."""
        found = []
        for path in self.root.iterdir():
            if not JOB_ID.match(path.name) or states is not None and path.name in self.ended:
                continue
            job = self.get(path.name)
            if job is None:
                continue
            if job.state in ENDED:
                self.ended.add(job.id)
            if states is None or job.state in states:
                found.append(job)
        return sorted(found, key=lambda job: job.created)

    def claim(self, job_id: str) -> Optional[Claim]:
        """The job's lock, when no other process holds it (None: another worker runs it)."""
        handle = open(self.folder(job_id) / "lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return Claim(handle)

    def ask_cancel(self, job_id: str) -> None:
        (self.folder(job_id) / "cancel").touch()

    def cancel_asked(self, job_id: str) -> bool:
        return (self.folder(job_id) / "cancel").exists()

    def progress(self, job_id: str) -> dict:
        try:
            return json.loads((self.folder(job_id) / "progress.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def write_progress(self, job_id: str, progress: dict) -> None:
        write_atomic(self.folder(job_id) / "progress.json", json.dumps(progress) + "\n")

    def add_event(self, job_id: str, event: dict) -> None:
        """Append one event as one JSON line in one write (readers take whole lines only). Not fsynced: the journal
        and job.json are the durable record; a crash may lose the last events, never a result."""
        with open(self.folder(job_id) / "events.jsonl", "a") as file:
            file.write(json.dumps(event) + "\n")

    def events(self, job_id: str, offset: int = 0) -> tuple[list[tuple[int, dict]], int]:
        """The events written after byte ``offset`` (whole lines only), each with the offset after it, and the
        offset after the last."""
        path = self.folder(job_id) / "events.jsonl"
        if not path.exists():
            return [], offset
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read()
        found, position = [], offset
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            position += len(line)
            if line.strip():
                found.append((position, json.loads(line)))
        return found, position

    def write_worker(self, name: str, figures: dict) -> None:
        """A worker's counters (``GET /metrics`` sums them), written every second while it lives."""
        folder = self.root / WORKERS
        folder.mkdir(exist_ok=True)
        write_atomic(folder / f"{name}.json", json.dumps({**figures, "time": time.time()}) + "\n")

    def workers(self) -> dict[str, dict]:
        """Every worker's last counters, by name."""
        found = {}
        for path in sorted((self.root / WORKERS).glob("*.json")):
            try:
                found[path.stem] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
        return found
