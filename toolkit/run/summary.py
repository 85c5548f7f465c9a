"""What a finished search leaves in the run folder (its PNG, noise and result record), the run's cost summed over
every part and rank, and grid.png."""

from __future__ import annotations

from typing import Optional, Sequence

from PIL import Image, ImageSequence
from safetensors.torch import save_file

from ..clips import FRAME_RATE, animated_webp, judged_frames, pil_frames, write_mp4
from ..engine import SearchResult
from ..imaging import to_uint8
from ..store.folder import RunDir
from ..store.records import BASELINE, CandidateRecord, ResultRecord
from ..store.run_records import Cost, Part, Summary
from .report.grid import draw_grid


def result_record(result: SearchResult) -> ResultRecord:
    """The record of one finished search (``0007-class3-r0``: the task index keeps names unique and sorted)."""
    stem = RunDir.stem(result.task.index, result.task.condition.slug, result.task.repeat)
    clip = result.image.dim() == 4
    return ResultRecord(index=result.task.index, condition=result.task.condition.as_dict(), repeat=result.task.repeat,
                        image=RunDir.image_name(stem), noise=RunDir.noise_name(stem), candidate=result.candidate,
                        score=result.score, scores=result.scores, nfe=result.nfe, candidates=result.candidates,
                        replayable=result.replayable, noise_seed=result.noise_seed, seconds=result.seconds,
                        first_candidate=result.first_candidate, first_scores=result.first_scores, ties=result.ties,
                        trace=result.trace, animation=RunDir.animation_name(stem) if clip else None,
                        video=RunDir.video_name(stem) if clip else None)


def save_result(folder, result: SearchResult) -> ResultRecord:
    """One result's record; in a folder on disk, its PNG and noise are written too (key ``noise``, the layout the
    pipeline takes as ``latents=``)."""
    record = result_record(result)
    if isinstance(folder, RunDir):
        result.pil.save(folder.file(record.image))
        if record.animation is not None:
            clip8 = to_uint8(result.image)
            folder.file(record.animation).write_bytes(animated_webp(pil_frames(clip8), fps=FRAME_RATE))
            write_mp4(folder.file(record.video), clip8, fps=FRAME_RATE)
        save_file({"noise": result.noise.contiguous()}, str(folder.file(record.noise)))
    return record


def cost(parts: Sequence[Part], candidates: dict[tuple, CandidateRecord],
         nfe_reached: Optional[list[int]] = None) -> Cost:
    """The run's cost from every rank's parts and its journal: NFEs (the no-search baselines' apart), wall seconds (the slowest rank), seconds in
    the denoiser and each verifier (summed over ranks), the batch size that fit, and how many parts it ran in."""
    baseline = sum(record.nfe for record in candidates.values() if record.id == BASELINE)
    return Cost(
        nfe_used=sum(record.nfe for record in candidates.values() if record.id != BASELINE),
        baseline_nfe=baseline or None,
        elapsed_s=round(max(p.elapsed_s for p in parts), 3),
        denoiser_s=round(sum(p.denoiser_s for p in parts), 3),
        verifier_s={name: round(sum(p.verifier_s.get(name, 0.0) for p in parts), 3) for name in parts[0].verifier_s},
        batch_size_settled=min((p.batch_size for p in parts if p.batch_size), default=None),
        batch_size_auto=parts[0].batch_size_auto or None,
        compile_warmup_s=round(max(p.compile_warmup_s for p in parts), 3)
        if any(p.compile_warmup_s for p in parts) else None,
        parts=max(p.parts or 1 for p in parts),
        nfe_reached=nfe_reached,
    )


def draw_grid_of(folder: RunDir, summary: Summary, class_names: Optional[Sequence[str]] = None) -> None:
    """grid.png: one labelled row per condition, repeats along it; for clips, their middle frames, and grid.webp
    the grid animated (at most 16 frames, evenly spaced)."""
    if not summary.results:
        return
    if not summary.results[0].animation:
        draw_grid(summary.results, summary.header, lambda name: Image.open(folder.file(name)),
                  class_names).save(folder.grid_path)
        return
    frames = {record.image: [frame.convert("RGB") for frame in ImageSequence.Iterator(
        Image.open(folder.file(record.animation)))] for record in summary.results}
    count = max(len(clip) for clip in frames.values())
    grids = [draw_grid(summary.results, summary.header, lambda name: frames[name][min(f, len(frames[name]) - 1)],
                       class_names) for f in judged_frames(count, 16)]
    grids[len(grids) // 2].save(folder.grid_path)
    folder.grid_path.with_suffix(".webp").write_bytes(animated_webp(grids, fps=FRAME_RATE, lossless=False))
