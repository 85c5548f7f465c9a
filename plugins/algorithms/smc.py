"""Feynman-Kac steering (Singhal et al., arXiv 2501.06848): particles on a stochastic sampler, resampled by
potentials of previewed rewards."""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from noisesearch.algorithm import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget

POTENTIALS = ("max", "difference", "sum")


class SMCSteering(SearchAlgorithm):
    """SMC / Feynman-Kac steering: k particles, ancestral steps, resampling when the ESS falls below a threshold."""

    name = "smc"

    @dataclass(frozen=True)
    class Params:
        """``k`` particles (default: as many as the budget pays for); ``potential`` from previewed rewards r_i:
        ``max`` (max_j<=i r_j), ``difference`` (r_i - r_(i-1)) or ``sum``; weights exp(``lam`` * potential change
        since the last resampling); resample multinomially when ESS < ``ess`` * k."""

        k: Optional[int] = None
        potential: str = "max"
        lam: float = 10.0
        ess: float = 0.5

    @classmethod
    def check(cls, params):
        require(params.k is None or (isinstance(params.k, int) and params.k >= 1), cls.name,
                f"k={params.k!r} must be an integer >= 1 (or unset)")
        require(params.potential in POTENTIALS, cls.name, f"potential={params.potential!r}; use one of {POTENTIALS}")
        require(params.lam > 0, cls.name, f"lam={params.lam} must be positive")
        require(0 < params.ess <= 1, cls.name, f"ess={params.ess} must lie in (0, 1]")

    @classmethod
    def particle_nfe(cls, context) -> int:
        """NFEs of one particle: a deterministic first step with a preview, then one call per ancestral step."""
        sigmas = context.sigmas
        total = context.cost(None, stop=sigmas[1])
        for level, stop in zip(sigmas[1:-1], sigmas[2:]):
            total += context.cost(level, stop, stochastic=True)
        return total

    @classmethod
    def check_context(cls, params, context):
        require(len(context.sigmas) >= 3, cls.name, "needs at least 2 denoising steps (model.steps >= 2)")
        require_budget(cls.name, (params.k or 1) * cls.particle_nfe(context), context.budget_nfe,
                       f"k={params.k or 1} particles")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.k = params.k or context.budget_nfe // self.particle_nfe(context)
        self.step = 0
        self.next_id = 0
        self.particles: list[int] = []
        self.rewards: dict[int, list[float]] = {}
        self.log_weights = [0.0] * self.k
        self.anchor: list[float] = [0.0] * self.k

    def _potential(self, history: list[float]) -> float:
        if self.params.potential == "max":
            return max(history)
        if self.params.potential == "sum":
            return sum(history)
        return history[-1] - (history[-2] if len(history) > 1 else 0.0)

    def ask(self) -> list[Proposal]:
        sigmas = self.context.sigmas
        if self.step >= len(sigmas) - 1:
            return []
        proposals = []
        for slot in range(self.k):
            noise = self.context.fresh_noise(self.next_id)
            if self.step == 0:
                proposals.append(Proposal(self.next_id, noise, stop=sigmas[1]))
            else:
                parent = self.particles[slot]
                proposals.append(Proposal(self.next_id, noise, (parent,), start=parent, stochastic=True,
                                          stop=sigmas[self.step + 1]))
            self.next_id += 1
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        histories = []
        for slot, outcome in enumerate(outcomes):
            parent = self.particles[slot] if self.particles else None
            history = self.rewards.get(parent, []) + [outcome.score]
            self.rewards[outcome.id] = history
            histories.append(history)
        self.particles = [o.id for o in outcomes]
        self.step += 1
        if self.step >= len(self.context.sigmas) - 1:
            return
        potentials = [self._potential(h) for h in histories]
        if self.params.potential == "difference":
            increments = potentials
        else:
            increments = [p - a for p, a in zip(potentials, self.anchor)]
        self.log_weights = [w + self.params.lam * inc for w, inc in zip(self.log_weights, increments)]
        self._maybe_resample(potentials)

    def _maybe_resample(self, potentials: list[float]) -> None:
        top = max(self.log_weights)
        weights = [math.exp(w - top) if math.isfinite(w) else 0.0 for w in self.log_weights]
        total = sum(weights)
        if total == 0:
            weights, total = [1.0] * self.k, float(self.k)
        ess = total**2 / sum(w * w for w in weights)
        if ess >= self.params.ess * self.k:
            return
        generator = torch.Generator().manual_seed(self.context.derive_seed("resample", self.step))
        chosen = torch.multinomial(torch.tensor(weights) / total, self.k, replacement=True, generator=generator)
        self.particles = [self.particles[i] for i in chosen.tolist()]
        self.anchor = [potentials[i] for i in chosen.tolist()]
        self.log_weights = [0.0] * self.k
