"""Trajectories for distilling an early verifier: every level's latent and x0-prediction of many seeded solves per
condition, the teacher's score of each finished sample, and the teacher's score of each level's x0-preview (the
baseline an early verifier must beat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ..conditions import Condition
from ..noise import NoiseSpec, derive_seed
from ..pipeline import Pipeline, RunSpec
from ..sampling.samplers import Step, sampler_class
from ..student import condition_vector
from ..verifier import Verifier


@dataclass
class Trajectories:
    """``x`` and ``x0`` (N, L, ...) at the solve's first L levels, ``sigmas`` (L), ``cond`` (N, ...) vectors,
    ``final`` (N) teacher scores, ``previews`` (N, L) teacher scores of the x0-previews, ``group`` (N) condition
    index, ``slot`` (N) the trajectory's index within its condition (its seed)."""

    x: torch.Tensor
    x0: torch.Tensor
    sigmas: torch.Tensor
    cond: torch.Tensor
    final: torch.Tensor
    previews: torch.Tensor
    group: torch.Tensor
    slot: Optional[torch.Tensor] = None

    def select(self, rows: torch.Tensor) -> "Trajectories":
        return Trajectories(self.x[rows], self.x0[rows], self.sigmas, self.cond[rows], self.final[rows],
                            self.previews[rows], self.group[rows], None if self.slot is None else self.slot[rows])


class LevelRecorder:
    """A solve's step callback that keeps, per step index, the state the solve reached there and its x0-prediction
    (``Sampler.solve``'s ``on_step``)."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, step: Step) -> None:
        self.seen[step.i] = (step.x.detach(), step.x0.detach())


@torch.no_grad()
def collect(pipeline: Pipeline, teacher: Verifier, conditions: Sequence[Condition], per_condition: int, run: RunSpec,
            seed: int = 0, batch: int = 64) -> Trajectories:
    """Solve ``per_condition`` seeded noises per condition (seeds apart from any search's: ``distill`` in the
    derivation) and record what an early verifier learns from."""
    pipeline.configure(run)
    sigmas = pipeline.sigmas(run.steps).cpu()
    levels = sigmas[:-1]
    shape = tuple(pipeline.latent_shape(run.height, run.width))
    encoded = pipeline.encode(list(conditions))
    device, dtype = pipeline.placement()
    jobs = [(i, j) for i in range(len(conditions)) for j in range(per_condition)]
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "x0", "cond", "final", "previews", "group", "slot")}
    for start in range(0, len(jobs), batch):
        chunk = jobs[start:start + batch]
        index = torch.tensor([i for i, _ in chunk])
        noises = torch.stack([NoiseSpec.fresh(derive_seed(seed, "distill", conditions[i].key, j)).build(shape)
                              for i, j in chunk]).to(device, dtype)
        cond = pipeline.select(encoded, index)
        recorder = LevelRecorder()
        x = pipeline.initial_latents(noises, sigmas)
        final = sampler_class(run.sampler)(pipeline.frame).solve(pipeline.denoise, x, sigmas, cond, on_step=recorder)
        chunk_conditions = [conditions[i] for i, _ in chunk]
        xs = torch.stack([recorder.seen[j][0] for j in range(len(levels))], dim=1)
        x0s = torch.stack([recorder.seen[j][1] for j in range(len(levels))], dim=1)
        images = pipeline.decode(final).float().clamp(0, 1)
        parts["final"].append(teacher.score(images, chunk_conditions).float().cpu())
        parts["previews"].append(torch.stack([
            teacher.score(pipeline.decode_preview(x0s[:, k]).float().clamp(0, 1), chunk_conditions).float().cpu()
            for k in range(len(levels))], dim=1))
        parts["x"].append(xs.float().cpu())
        parts["x0"].append(x0s.float().cpu())
        parts["cond"].append(condition_vector(cond).cpu())
        parts["group"].append(index)
        parts["slot"].append(torch.tensor([j for _, j in chunk]))
    return Trajectories(sigmas=levels, **{k: torch.cat(v) for k, v in parts.items()})
