"""The journal: an append-only JSON-lines record of every candidate, one file per rank, fsynced per batch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator


class Journal:
    """Appends records durably (write, flush, fsync); no two processes share a file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, records: Iterable[dict]) -> None:
        lines = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
        if not lines:
            return
        self._file.write(lines)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> Iterator[dict]:
    """Records of a journal file in order; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if not line.endswith("\n"):
                return
            yield json.loads(line)
