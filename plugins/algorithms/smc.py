"""Feynman-Kac steering (Singhal et al., arXiv 2501.06848): particles on a stochastic sampler, resampled by
potentials of previewed rewards."""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget

POTENTIALS = ("max", "difference", "sum")


class SMCSteering(SearchAlgorithm):
    """SMC / Feynman-Kac steering: k particles, ancestral steps, resampling when the ESS falls below a threshold."""

    name = "smc"

    @dataclass(frozen=True)
    class Params:
        """``k`` particles (default: as many as the budget pays for); at every resampling step the weights are FK
        steering's potentials of the previewed rewards r_t, with r~ carried along each particle's ancestry from
        ``reward_min``: ``max`` exp(lam * max(r_t, r~)), ``sum`` exp(lam * (r_t + r~)), ``difference``
        exp(lam * (r_t - r_(t-1))); resample multinomially when their ESS < ``ess`` * k."""

        k: Optional[int] = None
        potential: str = "max"
        lam: float = 10.0
        ess: float = 0.5
        reward_min: float = 0.0

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
        self.carried = [params.reward_min] * self.k  # r~ of each slot's ancestry (FK's population rewards)
        self.log_weights = [0.0] * self.k

    def potentials(self, rewards: list[float]) -> tuple[list[float], list[float]]:
        """(lam * log-potential, the r~ to carry) per slot from this step's rewards and the carried ones."""
        lam, carried = self.params.lam, self.carried
        if self.params.potential == "max":
            tilde = [max(r, c) for r, c in zip(rewards, carried)]
            return [lam * t for t in tilde], tilde
        if self.params.potential == "sum":
            tilde = [r + c for r, c in zip(rewards, carried)]
            return [lam * t for t in tilde], tilde
        return [lam * (r - c) for r, c in zip(rewards, carried)], list(rewards)

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
        self.particles = [o.id for o in outcomes]
        self.step += 1
        if self.step >= len(self.context.sigmas) - 1:
            return  # the final particles are all returned; the run keeps the best
        self.log_weights, tilde = self.potentials([o.score for o in outcomes])
        chosen = self._resampled()
        self.carried = tilde if chosen is None else [tilde[i] for i in chosen]
        if chosen is not None:
            self.particles = [self.particles[i] for i in chosen]

    def _resampled(self) -> Optional[list[int]]:
        """The slots drawn in proportion to the weights when their ESS is below ``ess`` * k, else None."""
        finite = [w for w in self.log_weights if math.isfinite(w)]
        top = max(finite) if finite else 0.0
        weights = [math.exp(w - top) if math.isfinite(w) else 0.0 for w in self.log_weights]
        total = sum(weights)
        if total == 0:
            weights, total = [1.0] * self.k, float(self.k)
        ess = total**2 / sum(w * w for w in weights)
        if ess >= self.params.ess * self.k:
            return None
        generator = torch.Generator().manual_seed(self.context.derive_seed("resample", self.step))
        return torch.multinomial(torch.tensor(weights) / total, self.k, replacement=True, generator=generator).tolist()
