"""A bounded background writer: journal appends (safetensors artifacts, fsynced JSON lines) leave the critical path,
written in order on one thread at most ``depth`` batches behind; a candidate is journaled, and so kept across a
crash, once its batch is durable, and a run's results are written only after every batch before them."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Optional

DEPTH = 2  # batches queued before ``submit`` waits: host memory stays that of a few rounds of candidates


class JournalWriter:
    """Runs journal appends (jobs that return the records they wrote) on a thread of its own, in the order
    submitted; an error there (a full disk) is raised in the caller at its next ``submit`` or ``flush``, and nothing
    after it is written."""

    def __init__(self, depth: int = DEPTH):
        self.jobs: queue.Queue = queue.Queue(maxsize=depth)
        self.error: Optional[BaseException] = None
        self.durable = 0  # candidate records written and fsynced
        self.thread = threading.Thread(target=self._work, name="noisesearch-journal", daemon=True)
        self.thread.start()

    def submit(self, job: Callable[[], int]) -> None:
        """Queue a job that appends to the journal and returns the records it wrote (blocks while ``depth`` wait)."""
        self._raise()
        self.jobs.put(job)

    def flush(self) -> None:
        """Wait until every submitted batch is durable."""
        self.jobs.join()
        self._raise()

    def close(self) -> None:
        """Flush, then stop the thread."""
        self.jobs.join()
        self.jobs.put(None)
        self.thread.join()
        self._raise()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    self.durable += job()
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self.error = error
            finally:
                self.jobs.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class InlineWriter:
    """The same interface writing at once, on the caller's thread (``model.background_writes false``)."""

    def __init__(self) -> None:
        self.durable = 0

    def submit(self, job: Callable[[], int]) -> None:
        self.durable += job()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
