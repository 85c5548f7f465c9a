"""Feynman-Kac steering (Singhal et al., arXiv 2501.06848): particles on a stochastic sampler, resampled on FK's
schedule by potentials of previewed rewards, with its terminal correction."""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget

POTENTIALS = ("max", "difference", "sum")
SCALES = ("standardize", "none")


class SMCSteering(SearchAlgorithm):
    """SMC / Feynman-Kac steering: k particles, ancestral steps, resampling at FK's scheduled levels."""

    name = "smc"

    @dataclass(frozen=True)
    class Params:
        """``k`` particles (default: as many as the budget pays for). At the scheduled levels (schedule indices
        ``resample_from``, then every ``resample_every``, up to ``resample_to``; the last interior level always)
        the weights are FK steering's potentials of the rewards r of the particles' x0-previews, with r~ carried
        along each particle's ancestry from ``reward_min``: ``max`` exp(lam * max(r, r~)), ``sum``
        exp(lam * (r + r~)), ``difference`` exp(lam * (r - r~)); at the last level ``max`` and ``sum`` divide by
        the product of the potentials a particle's ancestry was resampled with (FK's terminal correction). Rewards
        are ``standardize``d over the particles first (so ``lam`` means the same for any verifier's scale) or used
        as they are (``none``, FK's code: its lam 10 suits ImageReward's scale). Particles are resampled
        multinomially at every scheduled level, or with ``adaptive`` only when the weights' ESS < ``ess`` * k."""

        k: Optional[int] = None
        potential: str = "max"
        lam: float = 10.0
        scale: str = "standardize"
        resample_every: int = 1
        resample_from: int = 1
        resample_to: Optional[int] = None
        adaptive: bool = False
        ess: float = 0.5
        reward_min: float = 0.0

    @classmethod
    def check(cls, params):
        require(params.k is None or (isinstance(params.k, int) and params.k >= 1), cls.name,
                f"k={params.k!r} must be an integer >= 1 (or unset)")
        require(params.potential in POTENTIALS, cls.name, f"potential={params.potential!r}; use one of {POTENTIALS}")
        require(params.scale in SCALES, cls.name, f"scale={params.scale!r}; use one of {SCALES}")
        require(params.lam > 0, cls.name, f"lam={params.lam} must be positive")
        require(0 < params.ess <= 1, cls.name, f"ess={params.ess} must lie in (0, 1]")
        require(isinstance(params.resample_every, int) and params.resample_every >= 1, cls.name,
                f"resample_every={params.resample_every!r} must be an integer >= 1")
        require(isinstance(params.resample_from, int) and params.resample_from >= 1, cls.name,
                f"resample_from={params.resample_from!r} must be a schedule index >= 1")
        require(params.resample_to is None or (isinstance(params.resample_to, int)
                                               and params.resample_to >= params.resample_from), cls.name,
                f"resample_to={params.resample_to!r} must be a schedule index >= resample_from")

    @classmethod
    def particle_nfe(cls, context) -> int:
        """NFEs of one particle: a deterministic first step with a preview, then one call per ancestral step."""
        sigmas = context.sigmas
        total = context.cost(None, stop=sigmas[1])
        for level, stop in zip(sigmas[1:-1], sigmas[2:]):
            total += context.cost(level, stop, stochastic=True)
        return total

    @classmethod
    def scheduled(cls, params, context) -> list[int]:
        """The schedule indices whose previews weigh the particles: FK's interval and the last interior level."""
        last = len(context.sigmas) - 2
        end = min(params.resample_to if params.resample_to is not None else last, last)
        return sorted(set(range(params.resample_from, end + 1, params.resample_every)) | {last})

    @classmethod
    def check_context(cls, params, context):
        require(len(context.sigmas) >= 3, cls.name, "needs at least 2 denoising steps (model.steps >= 2)")
        require(params.resample_from <= len(context.sigmas) - 2, cls.name,
                f"resample_from={params.resample_from} is past the last interior level "
                f"({len(context.sigmas) - 2} at model.steps={len(context.sigmas) - 1})")
        require_budget(cls.name, (params.k or 1) * cls.particle_nfe(context), context.budget_nfe,
                       f"k={params.k or 1} particles")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.k = params.k or context.budget_nfe // self.particle_nfe(context)
        self.schedule = set(self.scheduled(params, context))
        self.last = len(context.sigmas) - 2
        self.step = 0
        self.next_id = 0
        self.particles: list[int] = []
        self.carried = [params.reward_min] * self.k  # r~ of each slot's ancestry (FK's population rewards)
        self.log_products = [0.0] * self.k  # log of the product of potentials each ancestry was resampled with
        self.log_weights: Optional[list[float]] = None  # those of the last scheduled level
        self.resampled_at: list[int] = []

    def rewards(self, scores: list[float]) -> list[float]:
        """The rewards the potentials take: the scores standardised over the particles, or as they are."""
        if self.params.scale == "none":
            return list(scores)
        finite = [s for s in scores if math.isfinite(s)]
        mean = sum(finite) / len(finite) if finite else 0.0
        spread = (sum((s - mean) ** 2 for s in finite) / len(finite)) ** 0.5 if finite else 0.0
        return [(s - mean) / spread if spread > 0 and math.isfinite(s) else (0.0 if math.isfinite(s) else -math.inf)
                for s in scores]

    def potentials(self, rewards: list[float], terminal: bool) -> tuple[list[float], list[float]]:
        """(log-potential, the r~ to carry) per slot; at the last level ``max`` and ``sum`` are corrected by the
        product of the potentials already applied along each ancestry."""
        lam, carried = self.params.lam, self.carried
        if self.params.potential == "difference":
            return [lam * (r - c) for r, c in zip(rewards, carried)], list(rewards)
        if self.params.potential == "max":
            tilde = [max(r, c) for r, c in zip(rewards, carried)]
        else:
            tilde = [r + c for r, c in zip(rewards, carried)]
        logs = [lam * t for t in tilde]
        if terminal:
            logs = [w - p for w, p in zip(logs, self.log_products)]
        return logs, tilde

    def ask(self) -> list[Proposal]:
        sigmas = self.context.sigmas
        if self.step >= len(sigmas) - 1:
            return []
        proposals = []
        scored = self.step + 1 in self.schedule  # levels whose weights are used; the others are not decoded
        for slot in range(self.k):
            noise = self.context.fresh_noise(self.next_id)
            if self.step == 0:
                proposals.append(Proposal(self.next_id, noise, stop=sigmas[1], scored=scored))
            else:
                parent = self.particles[slot]
                proposals.append(Proposal(self.next_id, noise, (parent,), start=parent, stochastic=True,
                                          stop=sigmas[self.step + 1], scored=scored or self.step + 1 > self.last))
            self.next_id += 1
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        self.particles = [o.id for o in outcomes]
        self.step += 1  # the particles now sit at schedule index self.step, scored on their x0-previews there
        if self.step > self.last or self.step not in self.schedule:
            return  # finished (every final particle is returned, the run keeps the best), or not a scheduled level
        self.log_weights, tilde = self.potentials(self.rewards([o.score for o in outcomes]), self.step == self.last)
        chosen = self._resampled()
        if chosen is None:
            self.carried = tilde
            return
        self.resampled_at.append(self.step)
        self.carried = [tilde[i] for i in chosen]
        self.log_products = [self.log_products[i] + self.log_weights[i] for i in chosen]
        self.particles = [self.particles[i] for i in chosen]

    def _resampled(self) -> Optional[list[int]]:
        """The slots drawn in proportion to the weights (always, or with ``adaptive`` when their ESS is below
        ``ess`` * k), else None."""
        finite = [w for w in self.log_weights if math.isfinite(w)]
        top = max(finite) if finite else 0.0
        weights = [math.exp(w - top) if math.isfinite(w) else 0.0 for w in self.log_weights]
        total = sum(weights)
        if total == 0:
            weights, total = [1.0] * self.k, float(self.k)
        if self.params.adaptive and total**2 / sum(w * w for w in weights) >= self.params.ess * self.k:
            return None
        generator = torch.Generator().manual_seed(self.context.derive_seed("resample", self.step))
        return torch.multinomial(torch.tensor(weights) / total, self.k, replacement=True, generator=generator).tolist()
