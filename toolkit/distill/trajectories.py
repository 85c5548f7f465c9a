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
from ..sampling.samplers import sampler_class
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
    """A denoiser that keeps, per level, the last latent it was called on there and its prediction: the state the
    solve actually reached (Heun's corrector calls the next level first on its Euler guess)."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.seen: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond) -> torch.Tensor:
        x0 = self.pipeline.denoise(x, sigma, cond)
        self.seen[round(float(sigma[0]), 6)] = (x.detach(), x0.detach())
        return x0


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
        recorder = LevelRecorder(pipeline)
        x = pipeline.initial_latents(noises, sigmas)
        final = sampler_class(run.sampler)(pipeline.frame).solve(recorder, x, sigmas, cond)
        chunk_conditions = [conditions[i] for i, _ in chunk]
        xs = torch.stack([recorder.seen[round(float(s), 6)][0] for s in levels], dim=1)
        x0s = torch.stack([recorder.seen[round(float(s), 6)][1] for s in levels], dim=1)
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
