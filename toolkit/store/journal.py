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
from typing import Iterable, Iterator, Optional, Sequence, Union

import torch
from safetensors.torch import load_file, save_file

from ..errors import UsageError
from .records import ArtifactRef, CandidateRecord, ResultRecord

Record = Union[CandidateRecord, ResultRecord]

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

    keeps_tensors = True  # artifacts hold what replay and the run report read

    def __init__(self, path: Path, rank: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        recover_torn_tail(self.path)
        self.artifacts = self.path.parent / "artifacts" / f"rank{rank}"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._count = len(list(self.artifacts.glob("*.safetensors")))
        self._file = open(self.path, "ab")

    def append(self, records: Sequence[Record], artifacts: Optional[Sequence[Optional[dict]]] = None) -> None:
        """Write each record's artifact (if any), then the records, then fsync; a full disk raises cleanly."""
        if not records:
            return
        records = list(records)
        try:
            refs = [ArtifactRef("", str(j)) for j in range(len(records))]
            bundle = {refs[j].tensor_name(key): value for j, tensors in enumerate(artifacts or []) if tensors
                      for key, value in tensors.items()}
            if bundle:
                name = self._save_artifact(bundle)
                records = [record.with_artifact(ArtifactRef(name, str(j))) if j < len(artifacts or []) and
                           artifacts[j] else record for j, record in enumerate(records)]
            self._write_lines(record.to_json() if isinstance(record, CandidateRecord) else record.line()
                              for record in records)
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

    @property
    def directory(self) -> Path:
        """The folder artifacts are named relative to."""
        return self.path.parent

    def close(self) -> None:
        self._file.close()


class MemoryJournal:
    """A journal of a run without a folder (Optuna's in-memory storage beside its journal storage): the records in
    a list, no tensors (nothing resumes from it), behind the same interface as ``Journal``."""

    keeps_tensors = False
    directory = None

    def __init__(self) -> None:
        self.records: list[Record] = []

    def append(self, records: Sequence[Record], artifacts: Optional[Sequence[Optional[dict]]] = None) -> None:
        self.records.extend(records)

    def close(self) -> None:
        pass


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


def load_artifact(journal_dir: Path, reference: ArtifactRef) -> dict[str, torch.Tensor]:
    """The tensors a journal record's ``artifact`` names (its key's slice of one batch's file)."""
    tensors = _load_bundle(str(Path(journal_dir) / reference.file))
    prefix = reference.tensor_name("")
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


class ArtifactReader:
    """Reads single tensors of artifacts (a thumbnail, not the kept states beside it), one file open at a time."""

    def __init__(self, journal_dir: Path):
        self.journal_dir = Path(journal_dir)
        self._open: dict[str, object] = {}

    def read(self, reference: Optional[ArtifactRef], name: str):
        """The named tensor of a record's artifact as a numpy array, or None when it holds none."""
        if reference is None:
            return None
        from safetensors import safe_open

        if reference.file not in self._open:
            self._open = {reference.file: safe_open(str(self.journal_dir / reference.file), framework="numpy")}
        handle = self._open[reference.file]
        key = reference.tensor_name(name)
        return handle.get_tensor(key) if key in handle.keys() else None


@functools.lru_cache(maxsize=4)
def _load_bundle(path: str) -> dict[str, torch.Tensor]:
    return load_file(path)


def read_run(journal_dir: Path) -> tuple[dict[tuple, CandidateRecord], dict[tuple, ResultRecord]]:
    """Every rank's journal as typed records: candidates by (search, repeat, id), results by (search, repeat)."""
    lines = (line for path in sorted(Path(journal_dir).glob("rank*.jsonl")) for line in read_journal(path))
    return records_by_key(CandidateRecord.from_json(line) if line["type"] == CandidateRecord.KIND
                          else ResultRecord.from_line(line) for line in lines
                          if line["type"] in (CandidateRecord.KIND, ResultRecord.KIND))


def records_by_key(records: Iterable[Record]) -> tuple[dict[tuple, CandidateRecord], dict[tuple, ResultRecord]]:
    """Candidates by (search, repeat, id) and results by (search, repeat); a later record of a key wins."""
    candidates: dict[tuple, CandidateRecord] = {}
    results: dict[tuple, ResultRecord] = {}
    for record in records:
        if isinstance(record, CandidateRecord):
            candidates[record.key] = record
        else:
            results[record.key] = record
    return candidates, results
