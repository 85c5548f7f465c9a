"""What a finished search leaves in the run folder (its PNG, noise and result record), and the run's summary.json:
settings, cost summed over every part of the run, and one record per search."""

from __future__ import annotations

from typing import Optional, Sequence

from PIL import Image
from safetensors.torch import save_file

from ..engine import ExecutorStats, SearchResult
from ..store.folder import RunDir
from ..store.records import CandidateRecord, ResultRecord
from .report.grid import draw_grid


def result_record(result: SearchResult) -> ResultRecord:
    """The record of one finished search (``0007-class3-r0``: the task index keeps names unique and sorted)."""
    stem = RunDir.stem(result.task.index, result.task.condition.slug, result.task.repeat)
    return ResultRecord(index=result.task.index, condition=result.task.condition.as_dict(), repeat=result.task.repeat,
                        image=RunDir.image_name(stem), noise=RunDir.noise_name(stem), candidate=result.candidate,
                        score=result.score, scores=result.scores, nfe=result.nfe, candidates=result.candidates,
                        replayable=result.replayable, noise_seed=result.noise_seed, seconds=result.seconds,
                        first_candidate=result.first_candidate, first_scores=result.first_scores, ties=result.ties)


def save_result(run_dir: RunDir, result: SearchResult) -> ResultRecord:
    """Write one result's PNG and noise (key ``noise``, the layout the pipeline takes as ``latents=``)."""
    record = result_record(result)
    result.pil.save(run_dir.file(record.image))
    save_file({"noise": result.noise.contiguous()}, str(run_dir.file(record.noise)))
    return record


def add_part(previous: Optional[dict], stats: ExecutorStats, elapsed_s: float) -> dict:
    """One rank's cost over every part of a run so far: an earlier part's figures plus this part's."""
    previous = previous or {}
    verifier_s = dict(previous.get("verifier_s") or {})
    for name, seconds in stats.verifier_s.items():
        verifier_s[name] = verifier_s.get(name, 0.0) + seconds
    return {"elapsed_s": previous.get("elapsed_s", 0.0) + elapsed_s,
            "denoiser_s": previous.get("denoiser_s", 0.0) + stats.denoiser_s, "verifier_s": verifier_s,
            "batch_size": stats.batch_size or previous.get("batch_size"),
            "batch_size_auto": stats.auto or previous.get("batch_size_auto"),
            "compile_warmup_s": previous.get("compile_warmup_s", 0.0) + stats.warmup_s,
            "parts": previous.get("parts", 0) + 1}


def cost(parts: Sequence[dict], candidates: dict[tuple, CandidateRecord]) -> dict:
    """The run's cost from every rank's parts and its journal: NFEs, wall seconds (the slowest rank), seconds in
    the denoiser and each verifier (summed over ranks), the batch size that fit, and how many parts it ran in."""
    return {
        "nfe_used": sum(record.nfe for record in candidates.values()),
        "elapsed_s": round(max(p.get("elapsed_s", 0.0) for p in parts), 3),
        "denoiser_s": round(sum(p.get("denoiser_s", 0.0) for p in parts), 3),
        "verifier_s": {name: round(sum(p.get("verifier_s", {}).get(name, 0.0) for p in parts), 3)
                       for name in parts[0].get("verifier_s", {})},
        "batch_size_settled": min((p["batch_size"] for p in parts if p.get("batch_size")), default=None),
        **({"batch_size_auto": parts[0]["batch_size_auto"]} if parts[0].get("batch_size_auto") else {}),
        **({"compile_warmup_s": round(max(p.get("compile_warmup_s", 0.0) for p in parts), 3)}
           if any(p.get("compile_warmup_s") for p in parts) else {}),
        "parts": max(p.get("parts", 1) for p in parts),
    }


def write_summary(run_dir: RunDir, header: dict, records: list[ResultRecord],
                  class_names: Optional[Sequence[str]] = None) -> dict:
    """Write ``summary.json`` and ``grid.png`` (one labelled row per condition, repeats along it)."""
    records = sorted(records, key=lambda r: r.index)
    summary = {**header, "results": [record.to_json() for record in records]}
    run_dir.write_summary(summary)
    if records:
        draw_grid(records, summary, lambda name: Image.open(run_dir.file(name)), class_names).save(run_dir.grid_path)
    return summary
