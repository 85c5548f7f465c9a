"""Feynman-Kac steering (Singhal et al., arXiv 2501.06848): particles on a stochastic sampler, resampled on FK's
schedule by potentials of previewed rewards, with its terminal correction and its ESS gate at the last level."""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget

POTENTIALS = ("max", "difference", "sum", "rt")
SCALES = ("standardize", "none")
LAMBDA = {"standardize": 2.0, "none": 10.0}  # per unit of the level's spread (docs/shapes.md); FK's for ImageReward


class SMCSteering(SearchAlgorithm):
    """SMC / Feynman-Kac steering: k particles, ancestral steps, resampling at FK's scheduled levels."""

    name = "smc"

    @dataclass(frozen=True)
    class Params:
        """``k`` particles (default: as many as the budget pays for). At the scheduled levels (schedule indices
        ``resample_from``, then every ``resample_every``, up to ``resample_to``; the last interior level always)
        the weights are FK steering's potentials of the rewards r of the particles' x0-previews, with r~ carried
        along each particle's ancestry from ``reward_min`` in the verifier's units: ``max`` exp(lam * max(r, r~)),
        ``sum`` exp(lam * (r + r~)), ``difference`` exp(lam * (r - r~)), ``rt`` exp(lam * r); at the last level
        ``max``, ``sum`` and ``rt`` divide by the product of the potentials a particle's ancestry was resampled with
        (FK's terminal correction). ``standardize`` divides each exponent by the spread of the level's rewards (so
        ``lam`` means the same for any verifier's scale, default 2) while r and r~ stay in one unit; ``none`` uses
        them as they are (FK's code, default lam 10 for ImageReward's scale). Interior levels are resampled
        multinomially always, or with ``adaptive`` only when the weights' ESS < ``ess`` * k; the last level only
        when its ESS < ``ess`` * k (FK), or always with ``adaptive_end`` false. ``resample_from`` 0 weighs the
        initial noises (then every step, the first included, is ancestral, as FK's)."""

        k: Optional[int] = None
        potential: str = "max"
        lam: Optional[float] = None
        scale: str = "standardize"
        resample_every: int = 1
        resample_from: int = 1
        resample_to: Optional[int] = None
        adaptive: bool = False
        adaptive_end: bool = True
        ess: float = 0.5
        reward_min: float = 0.0

    @classmethod
    def check(cls, params):
        require(params.k is None or (isinstance(params.k, int) and params.k >= 1), cls.name,
                f"k={params.k!r} must be an integer >= 1 (or unset)")
        require(params.potential in POTENTIALS, cls.name, f"potential={params.potential!r}; use one of {POTENTIALS}")
        require(params.scale in SCALES, cls.name, f"scale={params.scale!r}; use one of {SCALES}")
        require(params.lam is None or params.lam > 0, cls.name, f"lam={params.lam} must be positive (or unset)")
        require(0 < params.ess <= 1, cls.name, f"ess={params.ess} must lie in (0, 1]")
        require(isinstance(params.resample_every, int) and params.resample_every >= 1, cls.name,
                f"resample_every={params.resample_every!r} must be an integer >= 1")
        require(isinstance(params.resample_from, int) and params.resample_from >= 0, cls.name,
                f"resample_from={params.resample_from!r} must be a schedule index >= 0")
        require(params.resample_to is None or (isinstance(params.resample_to, int)
                                               and params.resample_to >= params.resample_from), cls.name,
                f"resample_to={params.resample_to!r} must be a schedule index >= resample_from")

    @classmethod
    def first_level(cls, params) -> int:
        """The schedule index the fresh noises are solved to: 0 (weighed as they are) or 1."""
        return 0 if params.resample_from == 0 else 1

    @classmethod
    def particle_nfe(cls, context, params=None) -> int:
        """NFEs of one particle: a deterministic first segment (or none) with a preview, then one call per
        ancestral step."""
        sigmas = context.sigmas
        first = cls.first_level(params) if params is not None else 1
        total = context.cost(None, stop=sigmas[first])
        for level, stop in zip(sigmas[first:-1], sigmas[first + 1:]):
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
        require_budget(cls.name, (params.k or 1) * cls.particle_nfe(context, params), context.budget_nfe,
                       f"k={params.k or 1} particles")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.k = params.k or context.budget_nfe // self.particle_nfe(context, params)
        self.lam = params.lam if params.lam is not None else LAMBDA[params.scale]
        self.schedule = set(self.scheduled(params, context))
        self.last = len(context.sigmas) - 2
        self.step = -1  # the schedule index the particles sit at (-1: not drawn yet)
        self.next_id = 0
        self.particles: list[int] = []
        self.carried = [params.reward_min] * self.k  # r~ of each slot's ancestry (FK's population rewards)
        self.log_products = [0.0] * self.k  # log of the product of potentials each ancestry was resampled with
        self.log_weights: Optional[list[float]] = None  # those of the last scheduled level
        self.resampled_at: list[int] = []
        self.levels: list[dict] = []  # per scheduled level: its ESS, whether it resampled, distinct survivors

    def spread(self, rewards: list[float]) -> float:
        """What the exponents are divided by: the spread of the level's finite rewards (``standardize``), else 1."""
        finite = [r for r in rewards if math.isfinite(r)]
        if self.params.scale == "none" or len(finite) < 2:
            return 1.0
        mean = sum(finite) / len(finite)
        spread = (sum((r - mean) ** 2 for r in finite) / len(finite)) ** 0.5
        return spread if spread > 0 else 1.0

    def potentials(self, rewards: list[float], terminal: bool) -> tuple[list[float], list[float]]:
        """(log-potential, the r~ to carry) per slot; at the last level ``max``, ``sum`` and ``rt`` are corrected
        by the product of the potentials already applied along each ancestry."""
        lam, carried = self.lam / self.spread(rewards), self.carried
        if self.params.potential == "difference":
            return [lam * (r - c) for r, c in zip(rewards, carried)], list(rewards)
        if self.params.potential == "max":
            tilde = [max(r, c) for r, c in zip(rewards, carried)]
        elif self.params.potential == "sum":
            tilde = [r + c for r, c in zip(rewards, carried)]
        else:
            tilde = list(rewards)
        logs = [lam * t for t in tilde]
        if terminal:
            logs = [w - p for w, p in zip(logs, self.log_products)]
        return logs, tilde

    def ask(self) -> list[Proposal]:
        sigmas = self.context.sigmas
        if self.step >= len(sigmas) - 1:
            return []
        target = self.first_level(self.params) if self.step < 0 else self.step + 1
        scored = target in self.schedule or target > self.last  # unweighed levels are neither decoded nor scored
        proposals = []
        for slot in range(self.k):
            noise = self.context.fresh_noise(self.next_id)
            if self.step < 0:
                proposals.append(Proposal(self.next_id, noise, stop=sigmas[target], scored=scored))
            else:
                parent = self.particles[slot]
                proposals.append(Proposal(self.next_id, noise, (parent,), start=parent, stochastic=True,
                                          stop=sigmas[target], scored=scored))
            self.next_id += 1
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        self.particles = [o.id for o in outcomes]
        self.step = self.first_level(self.params) if self.step < 0 else self.step + 1
        if self.step > self.last or self.step not in self.schedule:
            return  # finished (every final particle is returned, the run keeps the best), or not a scheduled level
        terminal = self.step == self.last
        self.log_weights, tilde = self.potentials([o.score for o in outcomes], terminal)
        weights = self._normalised()
        ess = 1.0 / sum(w * w for w in weights)
        gated = self.params.adaptive_end if terminal else self.params.adaptive
        entry = {"level": self.step, "ess": round(ess, 4), "resampled": False, "survivors": self.k}
        self.levels.append(entry)
        if gated and ess >= self.params.ess * self.k:
            self.carried = tilde
            return
        generator = torch.Generator().manual_seed(self.context.derive_seed("resample", self.step))
        chosen = torch.multinomial(torch.tensor(weights), self.k, replacement=True, generator=generator).tolist()
        entry.update(resampled=True, survivors=len(set(chosen)))
        self.resampled_at.append(self.step)
        self.carried = [tilde[i] for i in chosen]
        self.log_products = [self.log_products[i] + self.log_weights[i] for i in chosen]
        self.particles = [self.particles[i] for i in chosen]

    def trace(self) -> dict:
        """Per scheduled level: the ESS of the weights, whether the particles were resampled and how many
        distinct ones survived."""
        return {"k": self.k, "levels": list(self.levels)}

    def _normalised(self) -> list[float]:
        """The weights, summing to 1 (uniform when none is positive and finite)."""
        finite = [w for w in self.log_weights if math.isfinite(w)]
        top = max(finite) if finite else 0.0
        weights = [math.exp(w - top) if math.isfinite(w) else 0.0 for w in self.log_weights]
        total = sum(weights)
        if total == 0:
            return [1.0 / self.k] * self.k
        return [w / total for w in weights]
