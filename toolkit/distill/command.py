"""``noisesearch distill``: trajectories of a pipeline, a teacher verifier's final scores, a Lightning fit, and an
early verifier's folder (``early:DIR``) with its card: Kendall's tau with the final score per level, held out."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from jsonargparse.typing import PositiveFloat, PositiveInt

from ..errors import UsageError
from ..pipeline import RunSpec
from ..resolve import describe_spec, resolve_pipeline, resolve_verifiers
from ..run.arguments import settings_and_out
from ..run.tasks import conditions_of
from ..student import LatentScorer, save_student
from .training import fit, taus
from .trajectories import Trajectories, collect


@dataclass
class Distill:
    """What ``noisesearch distill`` trains.

    Args:
        pipeline: the pipeline whose latents the early verifier reads (an embedded world: digits, shapes).
        verifier: the teacher: the verifier whose final score the early verifier predicts.
        classes: class labels of the trajectories (class-conditional pipelines).
        prompts_file: prompts of the trajectories, one per line (text-conditional pipelines).
        per_condition: seeded trajectories per condition.
        held_out: share of the conditions kept out of training, for the card's taus.
        held_out_file: prompts kept out of training instead (one per line; e.g. a study's prompts): the card's
            taus are measured on them.
        held_out_trajectories: share of every condition's trajectories kept out of training instead of whole
            conditions (class-conditional worlds, whose searches use the classes it trains on): the card's taus are
            measured on those unseen seeds.
        steps: denoising steps; by default the pipeline's.
        guidance: classifier-free guidance; by default the pipeline's.
        sampler: the sampler; by default the pipeline's.
        epochs: training epochs over every level of every training trajectory.
        width: channels of the network's first block (doubled per block).
        depth: blocks of the network (each halves the resolution).
        lr: AdamW's learning rate.
        batch_size: examples per training step, and trajectories per solve batch.
        seed: seeds the trajectories (apart from any search's), the split and the training.
        device: where trajectories are made and the network trains (``cpu``, ``cuda``).
    """

    pipeline: str = "shapes"
    verifier: Optional[str] = None
    classes: Optional[str] = None
    prompts_file: Optional[str] = None
    per_condition: PositiveInt = 32
    held_out: PositiveFloat = 0.25
    held_out_file: Optional[str] = None
    held_out_trajectories: Optional[PositiveFloat] = None
    steps: Optional[PositiveInt] = None
    guidance: Optional[float] = None
    sampler: Optional[str] = None
    epochs: PositiveInt = 20
    width: PositiveInt = 32
    depth: PositiveInt = 3
    lr: PositiveFloat = 2e-3
    batch_size: PositiveInt = 256
    seed: int = 0
    device: str = "cpu"


def parse(argv: list[str]) -> tuple[Distill, Path]:
    init, out = settings_and_out("noisesearch distill", "train an early verifier (early:DIR)", Distill,
                                 "the early verifier's folder", argv)
    return Distill(**init), out


def split(count: int, held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """Condition indices for training and for the card's held-out taus (at least one of each)."""
    if not 0 < held_out < 1:
        raise UsageError(f"held_out={held_out}: give the share of conditions kept out, between 0 and 1")
    if count < 2:
        raise UsageError("distill needs two or more conditions: some train, some are held out")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    held = min(count - 1, max(1, math.ceil(held_out * count)))
    return sorted(order[held:]), sorted(order[:held])


def seeds_kept_out(per_condition: int, share: float) -> int:
    """Trajectories of each condition kept out of training (two or more, so that a tau is defined, and one or more
    left to train on)."""
    if not 0 < share < 1:
        raise UsageError(f"held_out_trajectories={share}: give the share of each condition's trajectories kept "
                         f"out, between 0 and 1")
    kept = math.ceil(share * per_condition)
    if kept < 2 or kept >= per_condition:
        raise UsageError(f"held_out_trajectories={share} of per_condition={per_condition} keeps {kept} out: keep "
                         f"out two or more and train on one or more (raise per_condition)")
    return kept


def unseen_seeds(trajectories: Trajectories, per_condition: int, kept: int) -> torch.Tensor:
    """Rows of the last ``kept`` trajectories (seeds) of every condition: the card's held-out rows."""
    return trajectories.slot >= per_condition - kept


def distill(job: Distill, out: Path, say=print) -> dict:
    """Make trajectories, train, measure on the held-out conditions and write ``out``; returns the card."""
    family, source = resolve_pipeline(job.pipeline)
    teacher_spec = job.verifier or (family.default_verifiers[0] if family.default_verifiers else None)
    if teacher_spec is None:
        raise UsageError(f"pipeline {job.pipeline!r} names no default verifier; give --verifier")
    ((teacher_cls, argument),) = resolve_verifiers([teacher_spec], family.condition_kind)
    if teacher_cls.reads_latents:
        raise UsageError("--verifier: an early verifier cannot teach another; name the verifier of final images")
    conditions = conditions_of(job.classes, None, job.prompts_file)
    if conditions is None:
        raise UsageError("give the trajectories' conditions: --classes (class-conditional pipelines) or "
                         "--prompts_file (text-conditional ones)")
    if job.held_out_trajectories is not None and job.held_out_file is not None:
        raise UsageError("give --held_out_file (prompts kept out) or --held_out_trajectories (seeds kept out), "
                         "not both")
    if job.held_out_trajectories is not None:
        kept_seeds = seeds_kept_out(job.per_condition, job.held_out_trajectories)
        train_ids = held_ids = list(range(len(conditions)))
    elif job.held_out_file is not None:
        kept_out = [c for c in conditions_of(None, None, job.held_out_file) if c not in conditions]
        train_ids = list(range(len(conditions)))
        held_ids = list(range(len(conditions), len(conditions) + len(kept_out)))
        conditions = conditions + kept_out
        if not kept_out or not train_ids:
            raise UsageError("--held_out_file: give prompts apart from the training ones")
    else:
        train_ids, held_ids = split(len(conditions), job.held_out, job.seed)
    family.check_conditions(conditions)
    device = torch.device(job.device)
    pipeline = family.load(source).to(device).eval()
    teacher = teacher_cls(argument)
    teacher.attach(family)
    teacher.to(device).eval()
    run = RunSpec(job.steps or family.default_steps,
                  family.default_guidance if job.guidance is None else job.guidance,
                  family.default_height, family.default_width, job.sampler or family.default_sampler)
    say(f"distill: {len(conditions)} conditions x {job.per_condition} trajectories of {job.pipeline} "
        f"({run.steps} {run.sampler} steps, guidance {run.guidance}), teacher {teacher_spec}")
    started = time.perf_counter()
    trajectories = collect(pipeline, teacher, conditions, job.per_condition, run, job.seed, job.batch_size)
    held_out_text = (f"the last {kept_seeds} of every condition's {job.per_condition} trajectories held out"
                     if job.held_out_trajectories is not None else f"{len(held_ids)} held out")
    say(f"{len(trajectories.x)} trajectories in {time.perf_counter() - started:.0f} s; training on "
        f"{len(train_ids)} conditions, {held_out_text}")
    if not teacher_cls.higher_is_better:  # the early verifier prefers higher scores, as most verifiers do
        trajectories.final, trajectories.previews = -trajectories.final, -trajectories.previews
    if job.held_out_trajectories is not None:
        unseen = unseen_seeds(trajectories, job.per_condition, kept_seeds)
        train, held = trajectories.select(~unseen), trajectories.select(unseen)
    else:
        train = trajectories.select(torch.isin(trajectories.group, torch.tensor(train_ids)))
        held = trajectories.select(torch.isin(trajectories.group, torch.tensor(held_ids)))
    classes = family.num_classes + 1 if trajectories.cond.dtype == torch.long and family.num_classes else None
    condition = 32 if classes else trajectories.cond.shape[1]
    with torch.random.fork_rng(devices=[]):  # the initial weights follow --seed, not whatever ran before
        torch.manual_seed(job.seed)
        network = LatentScorer(trajectories.x.shape[2], condition, classes, job.width, job.depth)
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    fit(network, train, job.epochs, job.batch_size, job.lr, job.seed, accelerator, say)
    measured = taus(network.cpu(), held)
    card = {
        "pipeline": describe_spec(job.pipeline), "teacher": teacher_spec,
        "higher_is_better": teacher_cls.higher_is_better,
        "run": {"steps": run.steps, "guidance": run.guidance, "sampler": run.sampler},
        "sigmas": [round(float(s), 6) for s in trajectories.sigmas],
        "tau_early": measured["early"], "tau_preview": measured["preview"],
        "trajectories": {"conditions": len(conditions), "per_condition": job.per_condition,
                         "held_out": [conditions[i].key for i in held_ids],
                         "held_out_per_condition": kept_seeds if job.held_out_trajectories is not None else None},
        "training": {"epochs": job.epochs, "lr": job.lr, "batch_size": job.batch_size, "seed": job.seed},
    }
    save_student(out, network, card)
    say(format_taus(card))
    return card


def format_taus(card: dict) -> str:
    """The card's taus as a table: level, sigma, early verifier, x0-preview scored by the teacher."""
    kept = card["trajectories"].get("held_out_per_condition")
    held = (f"the last {kept} trajectories of each condition, unseen seeds" if kept
            else f"{len(card['trajectories']['held_out'])} held out")
    lines = [f"Kendall tau with the final {card['teacher']} score, within held-out conditions ({held}):",
             f"{'after step':>10} {'sigma':>9} {'early':>7} {'preview':>8}"]
    for step, (sigma, early, preview) in enumerate(zip(card["sigmas"], card["tau_early"], card["tau_preview"])):
        lines.append(f"{step:>10} {sigma:>9.3f} {_tau(early):>7} {_tau(preview):>8}")
    return "\n".join(lines)


def _tau(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:+.3f}"


def main(argv: list[str]) -> int:
    """Entry point of ``noisesearch distill``."""
    job, out = parse(argv)
    distill(job, out)
    print(f"wrote {out} (use it as the verifier early:{out})")
    return 0
