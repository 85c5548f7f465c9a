"""The run folder: the one owner of its layout and schema (config.yaml, run.json, summary.json, images/, noises/,
journal/, parts/), for the writer, resume, bench and the worlds' evaluators.

    out/
      config.yaml     the predict config that reproduces the run (LightningCLI's dump)
      run.json        the settings that fix results, compared on resume (the fingerprint)
      summary.json    settings, cost and one record per search (written when the run ends)
      grid.png        the chosen images, one row per condition, labelled, with their scores
      report.html     every search's candidates, best-so-far curve and lineage (``noisesearch report DIR``)
      images/         one PNG per search:      NNNN-<condition slug>-rR.png
      noises/         its root noise:          NNNN-<condition slug>-rR.safetensors (key ``noise``)
      journal/        rankN.jsonl and artifacts/rankN/*.safetensors: the record of truth (noisesearch.store.journal)
      parts/          rankN.json: each rank's timings, merged into summary.json
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import UsageError
from .journal import Journal, MemoryJournal, read_run, records_by_key
from .run_records import Part, RunHeader, Summary

CONFIG, FINGERPRINT, SUMMARY, GRID, REPORT = "config.yaml", "run.json", "summary.json", "grid.png", "report.html"
FOLDERS = ("images", "noises", "journal", "parts")
RUN_MARKERS = (SUMMARY, "journal")


@dataclass(frozen=True)
class FolderPlan:
    """What one process (global rank 0) writes into the run folder before any rank journals: the folder cleared
    first under ``--overwrite``, ``config.yaml`` (None on resume) and ``run.json`` (None when already there)."""

    clear: bool = False
    config: Optional[str] = None
    fingerprint: Optional[dict] = None


class RunDir:
    """A run's output folder; every path and file format of a run is named here and nowhere else."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def journal_dir(self) -> Path:
        return self.path / "journal"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def journal_path(self, rank: int) -> Path:
        """The journal file of one rank."""
        return self.journal_dir / f"rank{rank}.jsonl"

    def holds_run(self) -> bool:
        """Whether a run (finished or interrupted) already lives here."""
        return any((self.path / marker).exists() for marker in RUN_MARKERS)

    def is_finished(self) -> bool:
        return (self.path / SUMMARY).exists()

    def can_resume(self) -> bool:
        """Whether the folder holds what resuming needs: its config and its journal."""
        return self.config_path.is_file() and self.journal_dir.is_dir()

    def clear(self) -> None:
        """Remove a previous run's files (nothing else in the folder is touched)."""
        for name in (SUMMARY, GRID, REPORT, CONFIG, FINGERPRINT):
            (self.path / name).unlink(missing_ok=True)
        for folder in FOLDERS:
            shutil.rmtree(self.path / folder, ignore_errors=True)

    def start(self, plan: FolderPlan) -> None:
        """Carry out a run's folder plan (one process only; the others wait at a barrier)."""
        if plan.clear:
            self.clear()
        if plan.config is not None:
            self.write_config(plan.config)
        if plan.fingerprint is not None:
            self.write_fingerprint(plan.fingerprint)
        self.prepare()

    def prepare(self) -> None:
        """Create the folders a running rank writes into."""
        for folder in FOLDERS:
            (self.path / folder).mkdir(parents=True, exist_ok=True)

    def write_config(self, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text)

    def read_config(self) -> dict:
        """The run's config.yaml as a structured config (what ``noisesearch resume`` replays)."""
        import yaml

        return yaml.safe_load(self.config_path.read_text()) or {}

    def read_fingerprint(self) -> Optional[RunHeader]:
        """run.json: the settings the run started with (None before it started)."""
        path = self.path / FINGERPRINT
        return RunHeader.from_json(json.loads(path.read_text())) if path.exists() else None

    def write_fingerprint(self, header: RunHeader) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / FINGERPRINT).write_text(json.dumps(header.to_json(), indent=2) + "\n")

    @staticmethod
    def stem(index: int, slug: str, repeat: int) -> str:
        """``0007-class3-r0``: the task index keeps names unique and sorted; the slug is sanitised already."""
        return f"{index:04d}-{slug}-r{repeat}"

    @staticmethod
    def image_name(stem: str) -> str:
        return f"images/{stem}.png"

    @staticmethod
    def animation_name(stem: str) -> str:
        return f"images/{stem}.webp"

    @staticmethod
    def video_name(stem: str) -> str:
        return f"images/{stem}.mp4"

    @staticmethod
    def noise_name(stem: str) -> str:
        return f"noises/{stem}.safetensors"

    def write_part(self, rank: int, part: Part) -> None:
        """One rank's timings, merged by rank 0 when every rank is done."""
        (self.path / "parts" / f"rank{rank}.json").write_text(json.dumps(part.to_json()))

    def read_part(self, rank: int) -> Optional[Part]:
        """One rank's figures from an earlier part of the run (None when it left none)."""
        path = self.path / "parts" / f"rank{rank}.json"
        return Part.from_json(json.loads(path.read_text())) if path.is_file() else None

    def clear_part(self, rank: int) -> None:
        (self.path / "parts" / f"rank{rank}.json").unlink(missing_ok=True)

    def read_parts(self, world: int) -> list[Part]:
        return [self.read_part(r) or Part() for r in range(world)]

    def write_summary(self, summary: Summary) -> None:
        (self.path / SUMMARY).write_text(json.dumps(summary.to_json(), indent=2) + "\n")

    def open_journal(self, rank: int) -> Journal:
        """This rank's journal, appended to (a torn last line from a crash cut first)."""
        return Journal(self.journal_path(rank), rank)

    def read_run(self) -> tuple[dict, dict]:
        """Every rank's journal as typed records (``journal.read_run``)."""
        return read_run(self.journal_dir)

    def is_study(self) -> bool:
        """Whether the folder holds a bench study (its cells are runs of their own) rather than a run."""
        return (self.path / "cells").is_dir() or (self.path / "results.json").is_file()

    def study_advice(self) -> str:
        return (f"{self.path} is a bench study, not a run: open {self.path / REPORT} (`noisesearch bench --config "
                f"STUDY.yaml --out {self.path}` rebuilds it), or give one of its cells, {self.path / 'cells'}/CELL")

    def read_summary(self) -> Summary:
        """summary.json, typed; a folder without one (a study, an unfinished run) is one line naming the fix."""
        path = self.path / SUMMARY
        if not path.is_file() and self.is_study():
            raise UsageError(self.study_advice())
        if not path.is_file():
            raise UsageError(f"{self.path} holds no finished run (no {SUMMARY}); run `noisesearch predict --out "
                             f"{self.path}` or `noisesearch resume {self.path}` first")
        return Summary.from_json(json.loads(path.read_text()))

    @property
    def grid_path(self) -> Path:
        return self.path / GRID

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    def file(self, name: str) -> Path:
        """A file a summary record names (``images/...``, ``noises/...``)."""
        return self.path / name

    def load_images(self) -> tuple[Any, list, Summary]:
        """The finished run's chosen images in [0, 1] (N, C, H, W), or clips (N, F, C, H, W) read back from their
        lossless animations, their conditions, and its summary."""
        import numpy as np
        import torch
        from PIL import Image, ImageSequence

        from ..conditions import Condition

        summary = self.read_summary()
        if summary.results and summary.results[0].animation:
            clips = [np.stack([np.asarray(frame.convert("RGB"), dtype=np.float32) / 255
                               for frame in ImageSequence.Iterator(Image.open(self.file(r.animation)))])
                     for r in summary.results]
            tensor = torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3)
            return tensor, [Condition(**r.condition) for r in summary.results], summary
        arrays = [np.asarray(Image.open(self.file(r.image)), dtype=np.float32) / 255 for r in summary.results]
        tensor = torch.from_numpy(np.stack(arrays))
        tensor = tensor[:, None] if tensor.dim() == 3 else tensor.permute(0, 3, 1, 2)
        conditions = [Condition(**r.condition) for r in summary.results]
        return tensor, conditions, summary


class MemoryFolder:
    """The folder of a run that keeps nothing on disk (``noisesearch.search`` without ``out``), behind the same
    interface as ``RunDir`` (Optuna's in-memory storage): its journal, parts, fingerprint and summary in memory,
    results returned rather than written, and nothing there to resume."""

    path = None

    def __init__(self) -> None:
        self.journals: dict[int, MemoryJournal] = {}
        self.parts: dict[int, Part] = {}
        self.fingerprint: Optional[RunHeader] = None
        self.summary: Optional[Summary] = None

    def __str__(self) -> str:
        return "the run (kept in memory)"

    def holds_run(self) -> bool:
        return False

    def is_finished(self) -> bool:
        return False

    def can_resume(self) -> bool:
        return False

    def start(self, plan: FolderPlan) -> None:
        if plan.fingerprint is not None:
            self.fingerprint = plan.fingerprint

    def prepare(self) -> None:
        pass

    def read_fingerprint(self) -> Optional[RunHeader]:
        return self.fingerprint

    def open_journal(self, rank: int) -> MemoryJournal:
        return self.journals.setdefault(rank, MemoryJournal())

    def read_run(self) -> tuple[dict, dict]:
        return records_by_key(record for journal in self.journals.values() for record in journal.records)

    def write_part(self, rank: int, part: Part) -> None:
        self.parts[rank] = part

    def read_part(self, rank: int) -> Optional[Part]:
        return self.parts.get(rank)

    def clear_part(self, rank: int) -> None:
        self.parts.pop(rank, None)

    def read_parts(self, world: int) -> list[Part]:
        return [self.parts.get(r, Part()) for r in range(world)]

    def write_summary(self, summary: Summary) -> None:
        self.summary = summary
