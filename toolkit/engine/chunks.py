"""Running chunks of candidates through an evaluator: how many candidates a chunk holds (a fixed size, ``auto``'s
trials, halved when the device runs out of memory, bounded by its free memory), compile padding and warm-up, and
the one counting denoiser every call of a chunk goes through, timed by CUDA events where the device has them."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, Callable, Container, Optional

import torch

from ..errors import UsageError, first_line
from ..pipeline import Pipeline
from ..sampling.denoiser import CountingDenoiser
from .batching import AutoBatch
from .compiled import padded

log = logging.getLogger("noisesearch")
AUTO_START = 256  # ``model.batch_size auto``: the size before its trials settle one


class OutOfDeviceMemory(UsageError):
    """Not even one candidate fits on the device: a memory setting must change (exit code 2)."""


class ChunkSizes:
    """The candidates a chunk holds: ``batch_size``, or ``auto``'s trials then its choice; halved until it fits
    when the device runs out of memory, and the size that fits kept for the rest of the run."""

    def __init__(self, batch_size: Optional[int]):
        self.size = batch_size or AUTO_START
        self.auto = AutoBatch() if batch_size is None else None
        self.backed_off = False
        self.largest = 0

    @property
    def tuning(self) -> bool:
        return self.auto is not None and self.auto.tuning

    def next(self) -> int:
        return self.auto.size() if self.tuning else self.size

    def measured(self, rows: int, nfe: int, seconds: float, free_rows: Optional[int]) -> None:
        """A chunk of ``rows`` ran (``auto``: one trial measured; ``free_rows``: what free memory holds)."""
        self.largest = max(self.largest, rows)
        if not self.tuning:
            return
        self.auto.record(rows, nfe, seconds)
        if free_rows is not None:
            self.auto.limit(free_rows)
        self._settled()

    def out_of_memory(self, rows: int, error: BaseException) -> None:
        """A chunk of ``rows`` ran out of device memory: end ``auto``'s trials there, or halve the size."""
        free_device_memory()
        if self.tuning:
            self.auto.limit(rows)
            self._settled()
            return
        if rows <= 1:
            raise OutOfDeviceMemory(
                f"out of device memory with one candidate per batch ({first_line(error)}); settings that only "
                "change memory (a run resumes after them): model.offload true, model.verifier_device cpu; settings "
                "that change results (start a new run): model.dtype bf16 or fp16, a smaller model.height and "
                "model.width. Everything journaled is kept: `noisesearch resume OUT`")
        self.size = max(1, rows // 2)
        if not self.backed_off:
            log.warning("out of device memory at %d candidates per batch: halving until it fits (the size that "
                        "fits is kept for the rest of the run and reported as batch_size_settled)", rows)
        self.backed_off = True

    def _settled(self) -> None:
        if not self.auto.tuning:
            self.size = self.auto.chosen

    def settled(self) -> Optional[int]:
        """The candidates per chunk that fit and were kept: after a back-off the halved size, with ``auto`` the
        size chosen (the largest chunk run while it was still measuring), else the largest chunk run."""
        if self.backed_off:
            return self.size
        if self.auto is not None:
            return self.auto.chosen or self.largest or None
        return self.largest or self.size


def unfinished_chunks(members: list, sizes: ChunkSizes, replayed: Container[int]) -> list:
    """The members (place first) of the chunks a fresh run makes of ``members`` that hold any member not
    ``replayed``: a resumed round computes the chunks the run computed, so each row comes out as it did (a chunk the
    journal holds in part runs whole); while ``auto`` still times sizes, only the members not replayed."""
    if not replayed:
        return members
    if sizes.tuning:
        return [member for member in members if member[0] not in replayed]
    chunks = [members[start : start + sizes.size] for start in range(0, len(members), sizes.size)]
    return [member for chunk in chunks if any(m[0] not in replayed for m in chunk) for member in chunk]


class ChunkRunner:
    """Evaluates groups of proposals that share a plan, chunk by chunk, through the counting denoiser it owns;
    with ``compile`` every denoiser call of a chunk is padded to the chunk's size and each size is warmed up
    first, untimed (``warmup_seconds``); with ``pads`` (``model.pad_chunks``) every call is padded, so a row's
    result is the same whatever shares its chunk."""

    def __init__(self, pipeline: Pipeline, batch_size: Optional[int], compiled: bool, nfe_per_call: int,
                 pads: bool = False):
        self.pipeline = pipeline
        self.sizes = ChunkSizes(batch_size)
        self.compiled = compiled
        self.pads = pads  # ``model.pad_chunks``: every call of every chunk at the chunk size, scoring and decoding too
        self.pad_to: Optional[int] = None
        self.warmed: set[int] = set()
        self.warmup_seconds = 0.0
        self.denoiser_seconds = 0.0
        self.timings: list[tuple] = []  # CUDA events around denoiser calls, read once a chunk's scores are in
        self.on_call: Callable[[int], None] = lambda made: None  # after each call: the chunk's NFEs so far
        self.denoiser = CountingDenoiser(self._denoise, nfe_per_call)
        self.began = 0  # the counter when the chunk running now began

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        """One timed denoiser call; on a CUDA device timed by events, so no call waits for the device."""
        rows = x.shape[0]
        began = _event() if x.is_cuda else None
        started = time.perf_counter()
        if self.pad_to is not None and rows < self.pad_to:  # padded rows: never counted, scored or journaled
            output = self.pipeline.denoise(padded(x, self.pad_to), padded(sigma, self.pad_to), cond)[:rows]
        else:
            output = self.pipeline.denoise(x, sigma, cond)
        if began is not None:
            self.timings.append((began, _event()))
        else:
            self.denoiser_seconds += time.perf_counter() - started
        self.on_call(self.denoiser.nfe - self.began)
        return output

    def time(self, seconds: float) -> None:
        """Seconds spent in the network outside a counted call (a whole pipeline call, decoding included)."""
        self.denoiser_seconds += seconds

    def _settle_timings(self) -> None:
        """Add the CUDA-timed calls to the denoiser's seconds (after a chunk's scores: the device is done)."""
        for began, ended in self.timings:
            ended.synchronize()
            self.denoiser_seconds += began.elapsed_time(ended) / 1000
        self.timings.clear()

    def run(self, members: list, evaluate: Callable[[list, Optional[int]], dict],
            warm_up: Callable[[list, int], None], done: Callable[[list, dict], None]) -> None:
        """Evaluate ``members`` (one plan) in chunks: ``evaluate(chunk, pad_to)`` returns their evaluations,
        ``done(chunk, evaluations)`` takes them; a chunk that runs out of device memory runs again, smaller."""
        start = 0
        while start < len(members):
            size = self.sizes.next()
            chunk = members[start : start + size]
            if self.compiled and size not in self.warmed:
                self._warm_up(warm_up, chunk, size)
            before, began = self.denoiser.nfe, time.perf_counter()
            self.began = before
            try:
                evaluations = self._evaluate(evaluate, chunk, size)
            except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
                if not is_out_of_memory(error):
                    raise
                self.denoiser.nfe = before  # the failed attempt is not charged: its candidates run again
                self.sizes.out_of_memory(len(chunk), error)
                continue
            self.sizes.measured(len(chunk), self.denoiser.nfe - before, time.perf_counter() - began,
                                self._free_rows(len(chunk)) if self.sizes.tuning else None)
            self._settle_timings()
            done(chunk, evaluations)
            start += len(chunk)

    def _evaluate(self, evaluate, chunk: list, size: int) -> dict:
        self.pad_to = size if self.compiled or self.pads else None
        try:
            return evaluate(chunk, self.pad_to)
        finally:
            self.pad_to = None

    def _warm_up(self, warm_up, chunk: list, size: int) -> None:
        """Compile the network for chunks of ``size`` before any is timed: one uncounted call, timed as warm-up."""
        started = time.perf_counter()
        with torch.no_grad():
            warm_up(chunk, size)
        self.warmed.add(size)
        self.warmup_seconds += time.perf_counter() - started

    def _free_rows(self, rows: int) -> Optional[int]:
        """On a CUDA device, the rows the free memory holds, from the peak a chunk of ``rows`` needed
        (``torch.cuda.mem_get_info``); elsewhere None (the out-of-memory back-off is the only limit)."""
        device, _ = self.pipeline.placement()
        if device.type != "cuda" or not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info(device)
        per_row = torch.cuda.max_memory_allocated(device) / max(rows, 1)
        return int(0.9 * (free + torch.cuda.memory_allocated(device)) / per_row) + 1 if per_row > 0 else None


def _event() -> "torch.cuda.Event":
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


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
