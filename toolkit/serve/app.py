"""The HTTP side of ``noisesearch serve``, in the API process: the gate every request passes (an API key, a body
checked and made a job before anything is queued), the jobs routes, the options, metrics and the page. It reads and
writes the jobs folder; the inference workers run the jobs."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse

from .. import registry
from .images import IMAGES, error_body, image_entry
from .jobs import ACTIVE, ENDED, Job, JobStore
from .keys import KEYS_ENV, Keys
from .requests import RequestError, Requests, parse_body

OPEN = ("/", "/health")  # no key needed: the page (it asks for one) and the health check
PAGE = Path(__file__).with_name("page.html")
EVENT_POLL_S = 0.1


@dataclass
class Context:
    """What the HTTP side works with: the jobs, the request checks, the keys and the queue's cap."""

    store: JobStore
    requests: Requests
    keys: Keys
    max_queued: int = 256
    retry_after_s: int = 5


def json_response(status: int, body: dict, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


async def send_json(send, status: int, body: dict, headers: Optional[dict] = None) -> None:
    data = json.dumps(body).encode()
    extra = [(name.lower().encode(), str(value).encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": data})


def refusal(error: RequestError) -> tuple[int, dict, dict]:
    kind = "invalid_request_error" if error.status < 500 else "server_error"
    headers = {"Retry-After": error.retry_after} if error.retry_after is not None else {}
    return error.status, error_body(str(error), error.status, kind), headers


class Gate:
    """ASGI middleware: the key (401), then, for the images route, the body checked and the job made before the
    request reaches LitServe (which gets ``{"job_id": ...}``); the answer's content type and job id set."""

    def __init__(self, app, context: Context):
        self.app = app
        self.context = context

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        owner = self.context.keys.owner(headers.get(b"authorization", b"").decode("latin-1"))
        if owner is None:
            return await send_json(send, 401, error_body(f"missing or wrong API key: send Authorization: Bearer KEY "
                                                         f"with a key from the server's {KEYS_ENV}", 401,
                                                         "invalid_request_error"),
                                   {"WWW-Authenticate": "Bearer"})
        scope.setdefault("state", {})["owner"] = owner
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        try:  # every body is read here, at most the server's limit, before any route sees it
            body = await read_body(receive, self.context.requests.limits.max_request_bytes)
            if scope["path"] != IMAGES:
                return await self.app(scope, replay(body, receive), send)
            spec = self.context.requests.images(parse_body(body, self.context.requests.limits))
            job = create(self.context, spec, owner)
        except RequestError as error:
            return await send_json(send, *refusal(error))
        forwarded = json.dumps({"job_id": job.id, "stream": spec.stream,
                                "partial_images": spec.partial_images}).encode()
        scope = {**scope, "headers": [(name, value) for name, value in scope["headers"]
                                      if name not in (b"content-type", b"content-length")]
                 + [(b"content-type", b"application/json"), (b"content-length", str(len(forwarded)).encode())]}
        await self.app(scope, replay(forwarded, receive), answer_sender(send, job.id, spec.stream))


async def read_body(receive, limit: int) -> bytes:
    """The whole request body, refused (413) as soon as it passes ``limit`` bytes."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client went away before sending the whole body")
        body += message.get("body", b"")
        if len(body) > limit:
            raise RequestError(413, f"the request is over the server's {limit} bytes; send a smaller body")
        if not message.get("more_body"):
            return body


def replay(body: bytes, receive):
    """A ``receive`` that hands the app ``body``, then the client's own messages (its disconnect)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def answer_sender(send, job_id: str, stream: bool):
    """A ``send`` that names the job and the content type; a failed non-streamed job's status is its error's."""
    held: list[dict] = []

    async def send_answer(message):
        if message["type"] == "http.response.start":
            headers = [(name, value) for name, value in message.get("headers", []) if name != b"content-type"]
            headers += [(b"content-type", b"text/event-stream" if stream else b"application/json"),
                        (b"x-noisesearch-job", job_id.encode())]
            message = {**message, "headers": headers}
            if stream or message["status"] != 200:
                return await send(message)
            held.append(message)
            return
        if held and message["type"] == "http.response.body":
            start = held.pop()
            status = error_status(message.get("body", b""))
            if status is not None:
                start = {**start, "status": status}
            await send(start)
        await send(message)

    return send_answer


def error_status(body: bytes) -> Optional[int]:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("status") if isinstance(error, dict) else None


def create(context: Context, spec, owner: str) -> Job:
    """A new job, unless the queue is full (429 with Retry-After)."""
    waiting = len(context.store.jobs(states=ACTIVE))
    if waiting >= context.max_queued:
        raise RequestError(429, f"the server has {waiting} jobs queued or running, its most; try again in "
                                f"{context.retry_after_s} s", retry_after=context.retry_after_s)
    return context.store.create(spec, owner)


class Missing(RequestError):
    """A job that does not exist, or another key's (the two are answered alike)."""

    def __init__(self, job_id: str):
        super().__init__(404, f"no job {job_id[:40]!r} of yours; GET /v1/searches lists them")


def add_routes(app, context: Context) -> None:
    """The jobs routes, the options, metrics and the page (LitServe's own ``/`` gives way to the page)."""
    store = context.store
    app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) != "/"]

    def owned(request: Request, job_id: str) -> Job:
        job = store.get(job_id)
        if job is None or job.owner != request.state.owner:  # another owner's job is as unknown as a missing one
            raise Missing(job_id)
        return job

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError):
        status, body, headers = refusal(error)
        return json_response(status, body, headers)

    @app.get("/", include_in_schema=False)
    async def page():
        return HTMLResponse(PAGE.read_text())

    @app.get("/v1/options")
    async def options(request: Request):
        return describe(context)

    @app.post("/v1/searches", status_code=202)
    async def start(request: Request):
        limits = context.requests.limits
        body = await request.body()
        spec = context.requests.search(parse_body(body, limits))
        job = create(context, spec, request.state.owner)
        return json_response(202, {**view(job, store), "links": links(job.id)},
                             {"Location": f"/v1/searches/{job.id}"})

    @app.get("/v1/searches")
    async def listing(request: Request):
        mine = [view(job, store) for job in store.jobs() if job.owner == request.state.owner]
        return {"data": mine[-100:]}

    @app.get("/v1/searches/{job_id}")
    async def one(request: Request, job_id: str):
        return {**view(owned(request, job_id), store), "links": links(job_id)}

    @app.delete("/v1/searches/{job_id}", status_code=202)
    async def cancel(request: Request, job_id: str):
        job = owned(request, job_id)
        if job.state in ENDED:
            raise RequestError(409, f"job {job_id} has ended ({job.state}); nothing to cancel")
        return json_response(202, view(cancel_job(store, job), store))

    @app.get("/v1/searches/{job_id}/result")
    async def result(request: Request, job_id: str):
        job = owned(request, job_id)
        if job.state != "done":
            status = 409 if job.state in ACTIVE else 410 if job.state == "cancelled" else 500
            raise RequestError(status, f"job {job_id} is {job.state}" + (f": {job.error}" if job.error else "") +
                               ("; wait for it (GET /v1/searches/ID/events)" if job.state in ACTIVE else ""))
        folder = store.folder(job_id)
        summary = json.loads((folder / "summary.json").read_text())
        return {"id": job_id, "data": [{**image_entry(folder, record), "condition": record["condition"],
                                        "repeat": record["repeat"]} for record in summary["results"]],
                "cost": {key: summary.get(key) for key in ("nfe_used", "elapsed_s")}}

    @app.get("/v1/searches/{job_id}/report.html")
    async def report(request: Request, job_id: str):
        owned(request, job_id)
        path = store.folder(job_id) / "report.html"
        if not path.exists():
            raise RequestError(409, f"job {job_id} has no report yet: it is written when the job ends")
        return FileResponse(path, media_type="text/html")

    @app.get("/v1/searches/{job_id}/events")
    async def events(request: Request, job_id: str):
        owned(request, job_id)
        start = request.headers.get("last-event-id", "0")
        offset = int(start) if start.isdigit() else 0
        return StreamingResponse(follow(store, job_id, offset), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request):
        return PlainTextResponse(prometheus(store), media_type="text/plain; version=0.0.4")


async def follow(store: JobStore, job_id: str, offset: int):
    """A job's events as server-sent events (each one's id its end offset: ``Last-Event-ID`` resumes after it),
    until the job ends; a comment line every few seconds keeps idle connections open."""
    quiet = time.monotonic()
    while True:
        events, end = store.events(job_id, offset)
        for position, event in events:
            yield f"id: {position}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
            if event["type"] in ENDED:
                return
        offset = end
        if events:
            quiet = time.monotonic()
        elif time.monotonic() - quiet > 5:
            quiet = time.monotonic()
            yield ": waiting\n\n"
        await asyncio.sleep(EVENT_POLL_S)


def cancel_job(store: JobStore, job: Job) -> Job:
    """Cancel a job: a queued one at once (under its lock, so no worker starts it meanwhile), a running one by the
    marker its worker reads (its searches end after their round; what finished stays)."""
    store.ask_cancel(job.id)
    claim = store.claim(job.id)
    if claim is None:
        return job
    try:
        job = store.get(job.id)
        if job.state == "queued":
            job.state, job.ended = "cancelled", time.time()
            store.write(job)
            store.add_event(job.id, {"type": "cancelled"})
    finally:
        claim.release()
    return job


def view(job: Job, store: JobStore) -> dict:
    """A job as the API shows it: its state, what it asked for, and its progress."""
    return {"id": job.id, "object": "search", "state": job.state, "created": job.created, "started": job.started,
            "ended": job.ended, "error": job.error, "conditions": job.spec.conditions,
            "n": job.spec.per_condition, "seed": job.spec.seed,
            "settings": {key: job.spec.model.get(key) for key in ("algorithm", "budget_nfe", "budget_seconds",
                                                                   "verifiers")},
            "progress": store.progress(job.id) if job.state not in ("queued",) else {}}


def links(job_id: str) -> dict:
    base = f"/v1/searches/{job_id}"
    return {"self": base, "events": f"{base}/events", "result": f"{base}/result", "report": f"{base}/report.html"}


def describe(context: Context) -> dict:
    """``GET /v1/options``: what this server runs and what a request may ask."""
    settings, limits = context.requests.settings, context.requests.limits
    return {"pipeline": settings.pipeline_spec, "condition": settings.family.condition_kind,
            "size": f"{settings.args.width}x{settings.args.height}", "steps": settings.search.steps,
            "sampler": settings.search.sampler, "sample_nfe": settings.sample_nfe,
            "defaults": {"algorithm": settings.search.algorithm.name, "budget_nfe": settings.search.budget_nfe,
                         "verifiers": list(settings.verifier_specs)},
            "algorithms": sorted(entry.name for entry in registry.usable("algorithms")
                                 if not entry.cls.uses_gradients or settings.search.algorithm.uses_gradients),
            "verifiers": list(limits.verifiers),
            "limits": {"max_budget_nfe": limits.max_budget_nfe, "max_budget_seconds": limits.max_budget_seconds,
                       "max_images": limits.max_images, "max_prompt_chars": limits.max_prompt_chars,
                       "max_queued": context.max_queued}}


def prometheus(store: JobStore) -> str:
    """``GET /metrics``: jobs by state, and each worker's counters (Prometheus' text format)."""
    states = {state: 0 for state in (*ACTIVE, *ENDED)}
    searches = {state: 0 for state in ACTIVE}
    for job in store.jobs():
        states[job.state] = states.get(job.state, 0) + 1
        if job.state in ACTIVE:
            searches[job.state] += job.spec.searches
    lines = ["# HELP noisesearch_jobs Jobs by state.", "# TYPE noisesearch_jobs gauge"]
    lines += [f'noisesearch_jobs{{state="{state}"}} {count}' for state, count in states.items()]
    lines += ["# HELP noisesearch_searches Searches of the queued and running jobs.",
              "# TYPE noisesearch_searches gauge"]
    lines += [f'noisesearch_searches{{state="{state}"}} {searches[state]}' for state in ACTIVE]
    workers = store.workers()
    counters = (("nfe", "counter", "NFEs the worker's denoiser made"),
                ("candidates", "counter", "candidates the worker evaluated"),
                ("denoiser_s", "counter", "seconds in the worker's denoiser"),
                ("searches_done", "counter", "searches the worker finished"),
                ("nfe_per_s", "gauge", "NFEs per second the worker made since its last report"),
                ("jobs_running", "gauge", "jobs the worker holds"),
                ("loop_failures", "counter", "times the worker's loop failed"))
    for name, kind, text in counters:
        lines += [f"# HELP noisesearch_worker_{name} {text}.", f"# TYPE noisesearch_worker_{name} {kind}"]
        lines += [f'noisesearch_worker_{name}{{worker="{worker}"}} {figures.get(name, 0)}'
                  for worker, figures in workers.items()]
    lines += ["# HELP noisesearch_worker_verifier_seconds Seconds in each verifier.",
              "# TYPE noisesearch_worker_verifier_seconds counter"]
    lines += [f'noisesearch_worker_verifier_seconds{{worker="{worker}",verifier="{name}"}} {seconds}'
              for worker, figures in workers.items() for name, seconds in figures.get("verifier_s", {}).items()]
    lines += ["# HELP noisesearch_worker_up Whether the worker reported in the last 10 seconds.",
              "# TYPE noisesearch_worker_up gauge"]
    lines += [f'noisesearch_worker_up{{worker="{worker}"}} {int(time.time() - figures.get("time", 0) < 10)}'
              for worker, figures in workers.items()]
    return "\n".join(lines) + "\n"

