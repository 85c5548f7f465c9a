"""``noisesearch serve``: the command line (jsonargparse: ``--config``, ``--model.*`` as ``noisesearch predict``
takes them, the server's own settings) and the LitServer it starts."""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from jsonargparse import ArgumentParser
from jsonargparse.typing import PositiveFloat, PositiveInt

from .. import model_args
from ..errors import UsageError
from ..resolve import resolve_verifiers
from ..run.settings import build
from .jobs import ACTIVE, JobStore
from .keys import KEYS_ENV, Keys
from .requests import Limits, Requests

LOOPBACK = ("127.0.0.1", "::1", "localhost")
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds
SERVE_DEFAULTS = {"batch_size": 8, "pad_chunks": True,  # a server pads its chunks: a job's result is predict's
                  "baseline": False}  # and spends its device on the searches asked for, not on no-search baselines


@dataclass
class Serve:
    """Search as a service: OpenAI's images route and a jobs API over one loaded model (docs/serving.md).

    Args:
        host: the address to listen on: 127.0.0.1 (this machine only), or 0.0.0.0 / :: (every interface; needs
            API keys in NOISESEARCH_API_KEYS).
        port: the port to listen on (1024-65535).
        jobs_dir: where jobs live (each a run folder): a server started again on it resumes its unfinished jobs.
        accelerator: where the inference workers run: auto, cpu or cuda.
        devices: devices to use, one inference worker each (times workers_per_device): GPUs 0 to N-1, or on a
            CPU that many CPU workers; jobs go to whichever worker has room.
        workers_per_device: inference workers per device (each loads the models once and runs one loop).
        jobs_per_worker: jobs one worker runs at once (their searches share its chunks).
        cpu_threads: torch threads of each CPU worker; by default the machine's cores shared among the CPU
            workers, less one for the server's own threads (on 2 cores the loop ran twice as fast on one thread).
        max_queued: jobs queued or running at most; past it a request gets 429 with Retry-After.
        max_budget_nfe: the largest NFE budget per search a request may ask for (larger budgets are refused;
            a clock's cap is cut to it).
        max_budget_seconds: the longest budget_seconds per search a request may ask for.
        max_images: searches per request at most (conditions times n).
        max_prompt_chars: the longest prompt a request may send.
        verifiers: the verifiers a request may name (by default the server's model.verifiers).
        allow_no_keys: serve without API keys (loopback only): every request is one owner's.
        log_level: uvicorn's log level (critical, error, warning, info, debug).
    """

    host: str = "127.0.0.1"
    port: PositiveInt = 8000
    jobs_dir: str = "outputs/serve"
    accelerator: Literal["auto", "cpu", "cuda"] = "auto"
    devices: PositiveInt = 1
    workers_per_device: PositiveInt = 1
    jobs_per_worker: PositiveInt = 8
    cpu_threads: Optional[PositiveInt] = None
    max_queued: PositiveInt = 256
    max_budget_nfe: PositiveInt = 4096
    max_budget_seconds: PositiveFloat = 600.0
    max_images: PositiveInt = 8
    max_prompt_chars: PositiveInt = 500
    verifiers: Optional[list[str]] = None
    allow_no_keys: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"


def model_settings(**model) -> dict:
    return model


model_settings.__signature__ = model_args.signature().replace(
    parameters=list(model_args.signature().parameters.values())[1:])
model_settings.__doc__ = model_args.docstring("The search every job runs, unless a request sets its own budget, "
                                              "algorithm or verifiers (noisesearch predict's model settings).")


def parse(argv: list[str]) -> tuple[Serve, dict]:
    parser = ArgumentParser(prog="noisesearch serve", description=Serve.__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="config")
    parser.add_class_arguments(Serve, None)
    parser.add_function_arguments(model_settings, "model")
    parser.set_defaults({f"model.{key}": value for key, value in SERVE_DEFAULTS.items()})
    config = parser.parse_args(argv)
    values = config.as_dict()
    values.pop("config", None)
    model = {key: value for key, value in values.pop("model").items()}
    return Serve(**values), model


def check(serve: Serve, keys: Keys) -> None:
    """Refuse a server that would be open to others without keys, or a port it cannot have."""
    if serve.host not in HOSTS and serve.host not in LOOPBACK:
        raise UsageError(f"--host {serve.host!r}: use 127.0.0.1 (this machine) or 0.0.0.0 / :: (every interface)")
    if not keys.keys and not serve.allow_no_keys:
        raise UsageError(f"no API keys: set {KEYS_ENV}=KEY[,KEY...] (clients send Authorization: Bearer KEY), or "
                         "pass --allow_no_keys true to serve this machine alone without them")
    if not keys.keys and serve.host not in LOOPBACK:
        raise UsageError(f"--host {serve.host} listens on every interface: set {KEYS_ENV} (--allow_no_keys is for "
                         "127.0.0.1 only)")
    if not 1024 <= serve.port <= 65535:
        raise UsageError(f"--port {serve.port}: use a port from 1024 to 65535")
    family = socket.AF_INET6 if ":" in serve.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((serve.host if serve.host != "localhost" else "127.0.0.1", serve.port))
        except OSError as error:
            reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
            raise UsageError(f"--port {serve.port} on {serve.host} {reason}; pick another --port") from None


def main(argv: list[str]) -> int:
    """Entry point of ``noisesearch serve``."""
    serve, model = parse(argv)
    settings = build(**model)  # every name and value checked before anything loads
    if settings.search.share_nfe is not None:
        raise UsageError("model.budget_scope run is not served: a server's jobs each spend their own budget; leave it "
                         "unset")
    if settings.guard_class is not None:
        raise UsageError("model.guard is not served: noisesearch serve chooses without a guard (noisesearch predict "
                         "runs one); leave it unset")
    from .app import Context

    keys = Keys.from_env(open_to_all=serve.allow_no_keys)
    check(serve, keys)
    store = JobStore(Path(serve.jobs_dir))
    limits = Limits(serve.max_budget_nfe, serve.max_budget_seconds, serve.max_prompt_chars, serve.max_images,
                    verifiers=tuple(serve.verifiers or settings.verifier_specs))
    context = Context(store, Requests(settings, model, limits), keys, serve.max_queued)
    resolve_verifiers(list(limits.verifiers), settings.family.condition_kind)  # --verifiers: registered names
    server = make_server(serve, model, context)
    unfinished = len(store.jobs(states=ACTIVE))
    host = "127.0.0.1" if serve.host == "localhost" else serve.host
    print(f"noisesearch serve: {settings.pipeline_spec}, {settings.search.algorithm.name} at "
          f"{settings.search.budget_nfe} NFEs per search by default, on http://{host}:{serve.port}/ (jobs in "
          f"{store.root}{f'; {unfinished} unfinished jobs resume' if unfinished else ''})", flush=True)
    os.environ.setdefault("LITSERVE_DISABLE_TELEMETRY", "1")
    server.run(host=host, port=serve.port, num_api_servers=1, generate_client_file=False,
               api_server_worker_type="thread", log_level=serve.log_level)
    return 0


def make_server(serve: Serve, model: dict, context):
    """The LitServer: the images route on ``workers_per_device`` workers per device, the gate and the jobs routes."""
    import litserve

    from .app import Gate, add_routes
    from .images import ImagesAPI

    accelerator = serve.accelerator
    if accelerator == "auto":
        import torch

        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    workers = serve.workers_per_device * serve.devices
    threads = serve.cpu_threads or max(1, (os.cpu_count() or 2) // workers - (1 if workers == 1 else 0))
    api = ImagesAPI(str(context.store.root), model, serve.jobs_per_worker, threads if accelerator == "cpu" else None)
    cpu = accelerator == "cpu"  # LitServe runs one CPU "device": its workers are the devices asked for
    server = litserve.LitServer(api, accelerator=accelerator, devices=1 if cpu else serve.devices,
                                workers_per_device=serve.workers_per_device * (serve.devices if cpu else 1),
                                timeout=False,
                                middlewares=[(Gate, {"context": context})], restart_workers=True,
                                disable_openapi_url=False)
    add_routes(server.app, context)
    return server

