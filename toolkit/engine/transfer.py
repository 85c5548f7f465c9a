"""Device-to-host copies without a host synchronisation: rows copied non-blocking into pinned memory, and an event
the journal's writer waits on before it reads them (on the CPU, plain copies)."""

from __future__ import annotations

from typing import Optional

import torch


def host_rows(batch: torch.Tensor) -> list[torch.Tensor]:
    """A batch on the host as rows: on a CUDA device one non-blocking copy into a pinned buffer per chunk (read it
    only after ``copies_done``'s event or ``wait_for_copies``); elsewhere rows of their own."""
    batch = batch.detach()
    if batch.is_cuda:
        host = torch.empty(batch.shape, dtype=batch.dtype, pin_memory=True)
        host.copy_(batch, non_blocking=True)
        return list(host.unbind(0))
    return [row.clone() for row in batch.cpu()]


def copies_done(device: torch.device) -> Optional["torch.cuda.Event"]:
    """An event recorded after the copies queued so far on ``device`` (None off CUDA: nothing to wait for)."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def wait_for_copies(device: torch.device) -> None:
    """Block until the copies queued on ``device`` are done (before the host reads rows: choosing, gathering)."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()
