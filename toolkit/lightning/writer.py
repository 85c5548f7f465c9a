"""The prediction writer: images, noises, journal, ``summary.json`` and ``grid.png`` in the output folder."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image
from safetensors.torch import save_file

from ..engine import SearchResult
from ..errors import peer_lost
from ..run.report.grid import draw_grid
from ..store.journal import NO_SPACE, DiskFullError, Journal, read_run
from .progress import Console
from ..run.report.page import write_report
from ..store.folder import FolderPlan, RunDir
from ..run.report.table import format_cost, format_table


def result_stem(result: SearchResult) -> str:
    """``0007-class3-r0``: the task index keeps names unique and sorted; the rest is sanitised."""
    return RunDir.stem(result.task.index, result.task.condition.slug, result.task.repeat)


def result_record(result: SearchResult) -> dict:
    """The ``results`` entry of ``summary.json`` for one search."""
    stem = result_stem(result)
    return {
        "index": result.task.index,
        "condition": result.task.condition.as_dict(),
        "repeat": result.task.repeat,
        "image": RunDir.image_name(stem),
        "noise": RunDir.noise_name(stem),
        "candidate": result.candidate,
        "score": result.score,
        "scores": result.scores,
        "nfe": result.nfe,
        "candidates": result.candidates,
        "replayable": result.replayable,
        **({"noise_seed": result.noise_seed} if result.noise_seed is not None else {}),
        **({"seconds": result.seconds} if result.seconds is not None else {}),
    }


def save_result(run_dir: RunDir, result: SearchResult) -> dict:
    """Write one result's PNG and noise (key ``noise``, the layout the pipeline takes as ``latents=``)."""
    record = result_record(result)
    result.pil.save(run_dir.file(record["image"]))
    save_file({"noise": result.noise.contiguous()}, str(run_dir.file(record["noise"])))
    return record


def write_summary(run_dir: RunDir, header: dict, records: list[dict],
                  class_names: Optional[Sequence[str]] = None) -> dict:
    """Write ``summary.json`` and ``grid.png`` (one labelled row per condition, repeats along it)."""
    records = sorted(records, key=lambda r: r["index"])
    summary = {**header, "results": records}
    run_dir.write_summary(summary)
    if records:
        draw_grid(records, summary, lambda name: Image.open(run_dir.file(name)), class_names).save(run_dir.grid_path)
    return summary


class ResultWriter(BasePredictionWriter):
    """Writes each batch's results as they complete; rank 0 merges every rank's part into ``summary.json``."""

    def __init__(self, out: str, console: Optional[Console] = None, plan: Optional[FolderPlan] = None):
        super().__init__(write_interval="batch")
        self.run_dir = RunDir(out)
        self.out = self.run_dir.path
        self.console = console or Console()
        self.plan = plan or FolderPlan()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Global rank 0 (Lightning's cluster environment: its launcher, torchrun, SLURM, MPI) prepares the folder
        while the other ranks wait; then every rank opens its own journal."""
        if trainer.is_global_zero:
            self.run_dir.start(self.plan)
        self._barrier(trainer, "noisesearch-folder")
        self.run_dir.prepare()
        rank = trainer.global_rank
        pl_module.journal = Journal(self.run_dir.journal_path(rank), rank)
        self.run_dir.clear_part(rank)

    def _barrier(self, trainer: L.Trainer, name: str) -> None:
        try:
            trainer.strategy.barrier(name)
        except RuntimeError as error:  # gloo and NCCL report a dead or silent peer as RuntimeError
            raise peer_lost(trainer.global_rank, trainer.world_size, error, str(self.out)) from None

    def writes_results(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        """Sharding by candidates gives every rank the same results: rank 0 alone writes them."""
        return pl_module.shard != "candidates" or trainer.is_global_zero

    def write_on_batch_end(self, trainer, pl_module, prediction: Any, batch_indices, batch, batch_idx, dataloader_idx):
        if not prediction or not self.writes_results(trainer, pl_module):
            return
        try:
            records = [save_result(self.run_dir, result) for result in prediction]
        except OSError as error:
            if error.errno in NO_SPACE:
                raise DiskFullError(f"no space left while writing results to {self.out}: free space, then "
                                    f"`noisesearch resume {self.out}`") from None
            raise
        pl_module.journal.append([{"type": "result", "search": r.task.condition.key, "repeat": r.task.repeat,
                                   "record": record} for r, record in zip(prediction, records)])
        for record in records:
            self.console.event("search", **record)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        part = {"elapsed_s": pl_module.elapsed_s, "verifier_s": pl_module.verifier_seconds,
                "denoiser_s": pl_module.denoiser_seconds,
                "batch_size": pl_module.batch_size_settled}
        self.run_dir.write_part(trainer.global_rank, part)
        pl_module.journal.close()
        self._barrier(trainer, "noisesearch-summary")
        if trainer.is_global_zero:
            parts = self.run_dir.read_parts(trainer.world_size)
            candidates, results = read_run(self.run_dir.journal_dir)
            header = {
                **pl_module.describe(),
                "nfe_used": sum(record["nfe"] for record in candidates.values()),
                "elapsed_s": round(max(p["elapsed_s"] for p in parts), 3),
                "denoiser_s": round(sum(p.get("denoiser_s", 0.0) for p in parts), 3),
                "verifier_s": {name: round(sum(p.get("verifier_s", {}).get(name, 0.0) for p in parts), 3)
                               for name in parts[0].get("verifier_s", {})},
                "batch_size_settled": min((p["batch_size"] for p in parts if p.get("batch_size")), default=None),
            }
            records = [result["record"] for result in results.values()]
            write_summary(self.run_dir, header, records, pl_module.pipeline_cls.class_names)
            report = write_report(self.run_dir.path)
            self.console.text(format_table(records, header))
            self.console.text(f"{format_cost(header)}; wrote {self.out}/summary.json and {report.name}")
            self.console.event("end", nfe_used=header["nfe_used"], elapsed_s=header["elapsed_s"],
                               verifier_s=header["verifier_s"], summary=str(self.out / "summary.json"),
                               report=str(report), grid=str(self.run_dir.grid_path))
