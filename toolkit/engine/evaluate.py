"""Evaluating one chunk of proposals that share a plan, by one of three evaluators chosen once per loop: ``Whole``
(a pipeline run whole from initial noises, ``generate``), ``Stepped`` (the core's sampler drives the denoiser:
fresh, continued, re-noised, stochastic first step, stopped with an x0-preview) and ``Gradient`` (a stepped solve
with autograd, d score / d noise; Ma et al. 2025, section 3)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..algorithm import Proposal
from ..conditions import Condition
from ..imaging import thumbnails
from ..pipeline import Pipeline
from ..verifier import Latents
from .chunks import ChunkRunner
from .compiled import padded
from .encodings import Encodings
from .gradients import solve_with_gradient
from .plans import Planner, Solved
from .scoring import Scorer
from . import whole
from .state import Evaluated, SearchRun
from .transfer import host_rows
from .types import AlgorithmError

Member = tuple[int, SearchRun, Proposal]  # a pending proposal's index in its round, its search and the proposal


@dataclass
class Chunk:
    """Proposals that share a plan and a scorer, with their conditions, noises and condition rows (``cond``
    padded to ``pad_to`` rows under ``compile``; ``rows`` unpadded)."""

    members: list[Member]
    conditions: list[Condition]
    noises: Optional[torch.Tensor]
    cond: Any
    rows: Any
    pad_to: Optional[int]
    pad_all: Optional[int] = None  # ``model.pad_chunks``: decoding and scoring padded too (``pad_to`` pads the denoiser)

    @property
    def plan(self) -> Proposal:
        return self.members[0][2]

    @property
    def scorer(self) -> Scorer:
        return self.members[0][1].scorer

    def __len__(self) -> int:
        return len(self.members)


@dataclass
class Made:
    """What an evaluator made of a chunk: images (None when undecoded), each verifier's raw scores, and what a
    stopped or gradient plan adds."""

    images: Optional[torch.Tensor]
    raw: dict[str, list[float]]
    solved: Optional[Solved] = None
    gradients: Optional[torch.Tensor] = None


class Evaluator:
    """Turns chunks into evaluations through the runner's counting denoiser; a subclass makes one kind of plan."""

    def __init__(self, pipeline: Pipeline, runner: ChunkRunner, encodings: Encodings, planner: Planner,
                 shape: tuple[int, ...], sample_nfe: int):
        self.pipeline = pipeline
        self.runner = runner
        self.encodings = encodings
        self.planner = planner
        self.shape = shape
        self.sample_nfe = sample_nfe
        self.thumbnails = True  # thumbnails for the run report (only where a journal keeps tensors)

    @property
    def denoiser(self):
        return self.runner.denoiser

    def chunk(self, members: list[Member], pad_to: Optional[int]) -> Chunk:
        """The chunk's conditions, its noises (where its plan uses them) and its condition rows."""
        device, dtype = self.pipeline.placement()
        conditions = [search.task.condition for _, search, _ in members]
        noises = None
        if members[0][2].uses_noise:
            noises = torch.stack([proposal.noise.build(self.shape) for _, _, proposal in members]).to(device, dtype)
        return Chunk(members, conditions, noises, self.encodings.rows(conditions, pad_to),
                     self.encodings.rows(conditions), pad_to, pad_to if self.runner.pads else None)

    def evaluate(self, members: list[Member], pad_to: Optional[int]) -> dict[int, Evaluated]:
        """Each member's evaluation, by its index in the round."""
        chunk = self.chunk(members, pad_to)
        before = self.denoiser.nfe
        made = self.make(chunk)
        return evaluations(chunk, made, (self.denoiser.nfe - before) // len(chunk), self.thumbnails)

    def make(self, chunk: Chunk) -> Made:
        raise NotImplementedError

    def check(self, algorithm: type, proposal: Proposal) -> None:
        """Refuse a proposal this evaluator cannot make (before it is charged)."""

    def warm_up(self, members: list[Member], size: int) -> None:
        """One uncounted denoiser call on zeros at the top level for chunks of ``size`` (compiling)."""
        device, dtype = self.pipeline.placement()
        conditions = [members[0][1].task.condition] * size
        x = torch.zeros((size, *self.shape), device=device, dtype=dtype)
        sigma = torch.full((size,), float(self.planner.sigmas[0]), device=device, dtype=dtype)
        output = self.pipeline.denoise(x, sigma, self.encodings.rows(conditions))
        if output.is_cuda:
            torch.cuda.synchronize(output.device)


class Whole(Evaluator):
    """A whole pipeline call per chunk (``generate``): fresh noises solved to the end, the pipeline's own sampler."""

    def check(self, algorithm: type, proposal: Proposal) -> None:
        whole.check_proposal(self.pipeline.family, algorithm.name, proposal)

    def make(self, chunk: Chunk) -> Made:
        with torch.no_grad():
            started = time.perf_counter()
            specs = [proposal.noise for _, _, proposal in chunk.members]
            conditions, noises = chunk.conditions, chunk.noises
            if chunk.pad_to is not None and len(chunk) < chunk.pad_to:
                extra = chunk.pad_to - len(chunk)
                noises, conditions = padded(noises, chunk.pad_to), conditions + conditions[-1:] * extra
                specs = specs + specs[-1:] * extra
            images = self.pipeline.generate(noises, conditions, specs)[: len(chunk)]
            self.runner.time(time.perf_counter() - started)  # the whole pipeline call, decoding included
            raw = chunk.scorer.score(images, chunk.conditions, pad_to=chunk.pad_all)
        self.denoiser.charge(self.sample_nfe * len(chunk))
        return Made(images, raw)

    def warm_up(self, members: list[Member], size: int) -> None:
        """One discarded pipeline call on the chunk's first noise, ``size`` times."""
        device, dtype = self.pipeline.placement()
        _, search, proposal = members[0]
        noise = proposal.noise.build(self.shape).to(device, dtype)
        self.pipeline.generate(noise.expand(size, *noise.shape).contiguous(), [search.task.condition] * size,
                               [proposal.noise] * size)


class Stepped(Evaluator):
    """The core's sampler on the pipeline's denoiser: a plan from the top or from kept states, to 0 or to a level
    where the state is kept and its x0-preview scored (undecoded by verifiers that read latents)."""

    def check(self, algorithm: type, proposal: Proposal) -> None:
        if proposal.gradient:
            raise AlgorithmError(f"algorithm {algorithm.name!r} proposes gradients without declaring "
                                 "uses_gradients = True")

    def make(self, chunk: Chunk) -> Made:
        plan = chunk.plan
        with torch.no_grad():
            states = None if plan.start is None else [search.states[p.start] for _, search, p in chunk.members]
            scored = plan.scored or plan.stop == 0
            undecoded = plan.stop > 0 and chunk.scorer.reads_latents_only  # early verifiers read the latent
            solved = self.planner.run(states, chunk.noises, chunk.cond, renoise_to=plan.renoise_to,
                                      stochastic=plan.stochastic, stop=plan.stop, decode=scored and not undecoded,
                                      pad_to=chunk.pad_all)
            if not scored:  # a kept state the algorithm will not weigh: no decoding, no verifier
                return Made(None, {v.name: [math.nan] * len(chunk) for v in chunk.scorer.verifiers}, solved)
            latents = Latents(solved.x, solved.x0, plan.stop, chunk.rows) if plan.stop > 0 else None
            raw = chunk.scorer.score(solved.images, chunk.conditions, lambda: self.planner.decode_previews(
                solved.previews, solved.images, chunk.pad_all), latents, chunk.pad_all)
        return Made(solved.images, raw, solved)


class Gradient(Stepped):
    """Stepped, with gradient proposals solved under autograd: their scores and d score / d noise (ReNO)."""

    def check(self, algorithm: type, proposal: Proposal) -> None:
        """Every plan a stepped solve makes, and gradients."""

    def make(self, chunk: Chunk) -> Made:
        if not chunk.plan.gradient:
            return super().make(chunk)
        before = self.denoiser.nfe
        _, images, raw, gradients = solve_with_gradient(self.planner, chunk.scorer, chunk.noises, chunk.cond,
                                                        chunk.conditions)
        self.denoiser.charge_backward(self.denoiser.nfe - before)
        return Made(images, raw, gradients=gradients)


def evaluations(chunk: Chunk, made: Made, nfe_each: int, keep_thumbnails: bool) -> dict[int, Evaluated]:
    """Each member's evaluation: its scores, NFEs, root noise, and its image (finished) or kept state (stopped),
    copied to the host where results and the journal need them (kept states stay on the device)."""
    plan, solved = chunk.plan, made.solved
    stop = plan.stop > 0
    roots = None if chunk.noises is None else host_rows(chunk.noises.float())
    thumbs = host_rows(thumbnails(made.images.detach())) if keep_thumbnails and made.images is not None else None
    images = None if stop else host_rows(made.images)
    gradients = None if made.gradients is None else host_rows(made.gradients)
    computed = {}
    for j, (i, search, proposal) in enumerate(chunk.members):
        parent = search.states.get(proposal.start) if proposal.start is not None else None
        root = parent.root if parent is not None else roots[j]
        replayable = (parent.replayable if parent is not None else True) and not proposal.injects_noise
        evaluation = Evaluated({name: values[j] for name, values in made.raw.items()}, nfe_each, root, replayable,
                               gradient=None if gradients is None else gradients[j],
                               thumb=None if thumbs is None else thumbs[j])
        if stop:
            kept_state(evaluation, solved, j)
        else:
            evaluation.image = images[j]
        computed[i] = evaluation
    return computed


def kept_state(evaluation: Evaluated, solved: Solved, j: int) -> None:
    """Row ``j`` of a stopped plan: x, its x0-prediction, the preview and the multistep history, on the device."""
    evaluation.x, evaluation.x0 = solved.x[j].detach(), solved.x0[j].detach()
    evaluation.preview = solved.previews[j].detach() if solved.previews is not None else None
    if solved.history is not None:
        evaluation.earlier_level, evaluation.earlier = solved.history[0], solved.history[1][j].detach()
