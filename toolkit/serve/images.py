"""``POST /v1/images/generations``, OpenAI's images route, as a LitServe API: each inference worker runs a
``Worker`` (the engine loop), and a request (already checked and made a job by the HTTP side) is answered from its
job's events: the images as ``b64_json`` with their scores, or, with ``stream``, server-sent events (best-so-far
``image_generation.partial_image`` events, then one ``image_generation.completed`` per image)."""

from __future__ import annotations

import asyncio
import base64
import ctypes
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Optional

import litserve

from .jobs import JobStore

IMAGES = "/v1/images/generations"
POLL_S = 0.1
FAILED_STATUS = {"failed": 500, "cancelled": 409}


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a server killed with -9 leaves no worker behind)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def show_job_lines() -> None:
    """The worker's one line per job on stderr (the server's log)."""
    log = logging.getLogger("noisesearch.serve")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def b64_of(folder: Path, name: str) -> str:
    return base64.b64encode((folder / name).read_bytes()).decode()


def image_entry(folder: Path, record: dict) -> dict:
    """One image of the answer: OpenAI's ``b64_json`` and what the search found (score, scores, NFEs, seconds)."""
    return {"b64_json": b64_of(folder, record["image"]), "revised_prompt": None, "score": record["score"],
            "scores": record["scores"], "nfe": record["nfe"], "candidates": record["candidates"],
            "seconds": record.get("seconds")}


def error_body(message: str, status: int, kind: str = "server_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None, "status": status}}


def sse(data: dict, event: Optional[str] = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


async def answer(store: JobStore, job_id: str, stream: bool, size: str,
                 partial_images: Optional[int] = None) -> AsyncIterator[str]:
    """The answer to an images request, from its job's events as they come: streamed, a partial image each time a
    search's best improves (at most ``partial_images``, when given), then each image."""
    offset, folder, partials = 0, store.folder(job_id), 0
    common = {"background": "opaque", "output_format": "png", "quality": "auto", "size": size}
    while True:
        events, offset = store.events(job_id, offset)
        for _, event in events:
            kind = event["type"]
            if kind == "improved" and stream and (partial_images is None or partials < partial_images):
                yield sse({"type": "image_generation.partial_image", "b64_json": event["b64_json"],
                           "partial_image_index": partials, "created_at": int(time.time()), "index": event["index"],
                           "score": event["score"], "nfe": event["nfe"], **common}, "image_generation.partial_image")
                partials += 1
            elif kind == "done":
                images = [image_entry(folder, record) for record in event["results"]]
                if stream:
                    for image in images:
                        yield sse({"type": "image_generation.completed", "b64_json": image["b64_json"],
                                   "created_at": int(time.time()), "usage": usage(), **common},
                                  "image_generation.completed")
                    return
                yield json.dumps({"created": int(time.time()), "data": images, "usage": usage(),
                                  "noisesearch": {"job": job_id, "cost": event.get("cost")}})
                return
            elif kind in FAILED_STATUS:
                body = error_body(f"job {job_id} {kind}" + (f": {event['error']}" if event.get("error") else ""),
                                  FAILED_STATUS[kind])
                yield sse(body, "error") if stream else json.dumps(body)
                return
        await asyncio.sleep(POLL_S)


def usage() -> dict:
    """OpenAI's usage block (tokens mean nothing here: zeros; the cost is the answer's ``nfe``)."""
    return {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 0}}


class ImagesAPI(litserve.LitAPI):
    """The images route; its ``setup`` starts this worker's engine loop over the server's models."""

    def __init__(self, jobs_dir: str, defaults: dict, jobs_per_worker: int = 8, cpu_threads: Optional[int] = None):
        super().__init__(api_path=IMAGES, stream=True, enable_async=True)
        self.jobs_dir, self.defaults, self.jobs_per_worker = jobs_dir, defaults, jobs_per_worker
        self.cpu_threads = cpu_threads
        self.store: Optional[JobStore] = None
        self.worker = None
        self.size = ""

    def setup(self, device) -> None:
        from .worker import Worker

        die_with_parent()
        show_job_lines()
        if self.cpu_threads is not None:
            import torch

            torch.set_num_threads(self.cpu_threads)
        self.store = JobStore(Path(self.jobs_dir))
        worker_id = os.environ.get("LITSERVE_WORKER_ID", str(os.getpid()))
        self.worker = Worker(self.store, self.defaults, str(device), f"worker-{worker_id}-{os.getpid()}",
                             self.jobs_per_worker)
        self.worker.start()
        self.size = f"{self.worker.settings.args.width}x{self.worker.settings.args.height}"

    async def decode_request(self, request) -> dict:
        return dict(request)

    async def predict(self, request: dict) -> AsyncIterator[str]:
        async for chunk in answer(self.store, request["job_id"], bool(request.get("stream")), self.size,
                                  request.get("partial_images")):
            yield chunk

    async def encode_response(self, output: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in output:
            yield chunk

    def health(self) -> bool:
        return self.worker is None or all(thread.is_alive() for thread in self.worker.threads)
