"""The journal: the record of truth of a run, one append-only JSON-lines file per rank, fsynced per batch.

Each candidate's tensors that later work needs (a kept intermediate state, a finished image, its root noise) go
to a safetensors artifact beside the journal (one file per batch), written and fsynced before the records that
name it, so every journaled candidate can be replayed without evaluating it again.
"""

from __future__ import annotations

import errno
import functools
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import torch
from safetensors.torch import load_file, save_file

from ..errors import UsageError

NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DiskFullError(UsageError):
    """Writing the journal ran out of space; the journal was left consistent."""


def recover_torn_tail(path: Path) -> int:
    """Cut a torn last record (a crash mid-write) so appends start on a fresh line; returns bytes removed."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with open(path, "r+b") as file:
            file.truncate(keep)
            os.fsync(file.fileno())
    return len(data) - keep


class Journal:
    """Appends records and their artifacts durably; no two processes share a file."""

    def __init__(self, path: Path, rank: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        recover_torn_tail(self.path)
        self.artifacts = self.path.parent / "artifacts" / f"rank{rank}"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._count = len(list(self.artifacts.glob("*.safetensors")))
        self._file = open(self.path, "ab")

    def append(self, records: Sequence[dict], artifacts: Optional[Sequence[Optional[dict]]] = None) -> None:
        """Write each record's artifact (if any), then the records, then fsync; a full disk raises cleanly."""
        if not records:
            return
        records = [dict(record) for record in records]
        try:
            bundle = {f"{j}.{key}": value for j, tensors in enumerate(artifacts or []) if tensors
                      for key, value in tensors.items()}
            if bundle:
                name = self._save_artifact(bundle)
                for j, tensors in enumerate(artifacts):
                    if tensors:
                        records[j]["artifact"] = {"file": name, "key": str(j)}
            self._write_lines(records)
        except OSError as error:
            if error.errno in NO_SPACE:
                raise DiskFullError(
                    f"no space left while writing the journal {self.path} ({os.strerror(error.errno)}); the journal "
                    "is consistent up to the last complete batch: free space, then `noisesearch resume` the run"
                ) from None
            raise

    def _save_artifact(self, tensors: dict) -> str:
        """One safetensors file per batch (one fsync), keys ``<record index>.<tensor name>``."""
        name = self.artifacts / f"{self._count:08d}.safetensors"
        self._count += 1
        save_file({key: value.detach().to("cpu").clone() for key, value in tensors.items()}, str(name))
        descriptor = os.open(name, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return str(name.relative_to(self.path.parent))

    def _write_lines(self, records: Iterable[dict]) -> None:
        data = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records).encode()
        start = self._file.tell()
        try:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            self._file = _reopen_truncated(self._file, self.path, start)
            raise

    def close(self) -> None:
        self._file.close()


def _reopen_truncated(file, path: Path, size: int):
    """After a failed write, cut the file back to ``size`` bytes (dropping the partial batch) and reopen it."""
    try:
        file.close()
    except OSError:
        pass
    with open(path, "r+b") as raw:
        raw.truncate(size)
        os.fsync(raw.fileno())
    return open(path, "ab")


def read_journal(path: Path) -> Iterator[dict]:
    """Records of a journal file in order; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if not line.endswith("\n"):
                return
            yield json.loads(line)


def load_artifact(journal_dir: Path, reference: dict) -> dict[str, torch.Tensor]:
    """The tensors a journal record's ``artifact`` names (its key's slice of one batch's file)."""
    tensors = _load_bundle(str(Path(journal_dir) / reference["file"]))
    prefix = reference["key"] + "."
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


@functools.lru_cache(maxsize=4)
def _load_bundle(path: str) -> dict[str, torch.Tensor]:
    return load_file(path)


def read_run(journal_dir: Path) -> tuple[dict[tuple, dict], dict[tuple, dict]]:
    """Every rank's journal: candidates by (search, repeat, id) and finished results by (search, repeat)."""
    candidates: dict[tuple, dict] = {}
    results: dict[tuple, dict] = {}
    for path in sorted(Path(journal_dir).glob("rank*.jsonl")):
        for record in read_journal(path):
            if record["type"] == "candidate":
                candidates[(record["search"], record["repeat"], record["id"])] = record
            elif record["type"] == "result":
                results[(record["search"], record["repeat"])] = record
    return candidates, results
