"""A ``noisesearch serve`` process for tests and benchmarks: started as a user starts it, on loopback, in a session
of its own (so that one kill -9 ends it and every worker it spawned), and called over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

BIN = Path(sys.executable).parent
KEYS = ("alpha-key", "beta-key")
MODEL = ["--model.pipeline", "digits", "--model.budget_nfe", "77"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One server process: ``url``, ``call`` (JSON over HTTP with a key), ``kill`` (-9, every process of it)."""

    def __init__(self, jobs_dir: Path, *args: str, port: Optional[int] = None, model: Optional[list[str]] = None):
        self.jobs_dir, self.args, self.port = Path(jobs_dir), args, port or free_port()
        self.model = MODEL if model is None else model
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.jobs_dir.parent / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 120) -> "Server":
        environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                       "NOISESEARCH_API_KEYS": ",".join(KEYS)}
        self.jobs_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(BIN / "noisesearch"), "serve", "--port", str(self.port), "--jobs_dir", str(self.jobs_dir),
                 *self.model, *self.args], stdout=log, stderr=subprocess.STDOUT, env=environment,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"the server did not come up:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9 of the server and every process it started."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def call(self, method: str, path: str, body=None, key: Optional[str] = KEYS[0], raw: Optional[bytes] = None,
             headers: Optional[dict] = None, timeout: float = 120) -> tuple[int, dict, bytes]:
        """One request: (status, headers, body)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, body=None, **options) -> tuple[int, dict]:
        status, _, data = self.call(method, path, body, **options)
        return status, json.loads(data or b"null")

    def wait(self, job_ids, timeout: float = 300) -> list[dict]:
        """The jobs once each has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = [self.json("GET", f"/v1/searches/{job_id}")[1] for job_id in job_ids]
            if all(job.get("state") in ("done", "failed", "cancelled") for job in jobs):
                return jobs
            time.sleep(0.2)
        raise AssertionError(f"jobs did not end: {[job.get('state') for job in jobs]}\n{self.output()[-3000:]}")
