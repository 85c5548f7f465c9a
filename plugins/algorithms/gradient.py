"""Gradient ascent on the initial noise through the sampler (ReNO, Eyring et al., NeurIPS 2024)."""

from dataclasses import dataclass
from typing import Optional

import torch

from noisesearch.plugin import GRADIENT_COST, NoiseSpec, Outcome, Proposal, SearchAlgorithm, UsageError, band_filter

from .common import require, require_bands, require_budget


class GradientAscent(SearchAlgorithm):
    """ReNO-style search: SGD with Nesterov momentum on the noise to raise a differentiable verifier's score."""

    name = "gradient"
    anytime = True
    uses_gradients = True

    @dataclass(frozen=True)
    class Params:
        """``iterations`` evaluated noises (default: as many as the budget pays for; each costs a forward and a
        backward pass, 4 samples' NFEs); SGD ``lr`` with Nesterov ``momentum``; gradient norm clipped to ``clip``;
        ``reg`` pulls the noise norm towards sqrt(dimension), where Gaussian noise lives (ReNO's defaults). ``band``
        "low" ascends only the low frequencies (the step projected onto them): those below ``cutoff`` (fraction of
        Nyquist), or with ``levels`` L >= 1 the Haar wavelet approximation at L levels."""

        iterations: Optional[int] = None
        lr: float = 5.0
        momentum: float = 0.9
        clip: float = 0.1
        reg: float = 0.01
        band: str = "all"
        cutoff: float = 0.25
        levels: int = 0

    @classmethod
    def check(cls, params):
        require(params.iterations is None or (isinstance(params.iterations, int) and params.iterations >= 1),
                cls.name, f"iterations={params.iterations!r} must be an integer >= 1 (or unset)")
        require(params.lr > 0, cls.name, f"lr={params.lr} must be positive")
        require(0 <= params.momentum < 1, cls.name, f"momentum={params.momentum} must lie in [0, 1)")
        require(params.clip > 0, cls.name, f"clip={params.clip} must be positive")
        require(params.reg >= 0, cls.name, f"reg={params.reg} must be >= 0")
        require_bands(cls.name, params)

    @classmethod
    def check_context(cls, params, context):
        require_bands(cls.name, params, context.shape)

    @classmethod
    def check_clock(cls, params):
        if params.iterations is not None:
            raise UsageError(f"algorithm 'gradient': iterations={params.iterations} fixes the steps, "
                             "model.budget_seconds stops at the clock; leave iterations unset")

    @classmethod
    def check_budget(cls, params, budget_nfe, sample_nfe):
        require_budget(cls.name, (params.iterations or 1) * GRADIENT_COST * sample_nfe, budget_nfe,
                       f"{params.iterations or 1} gradient iterations (forward + backward = 4 samples each)")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.iterations = params.iterations or context.budget_nfe // (GRADIENT_COST * context.sample_nfe)
        self.done = 0
        self.noise = context.fresh_noise(0).build(context.shape)
        self.velocity = torch.zeros_like(self.noise)

    def ask(self) -> list[Proposal]:
        if self.done >= self.iterations:
            return []
        spec = self.context.fresh_noise(0) if self.done == 0 else NoiseSpec.of_tensor(self.noise)
        parents = () if self.done == 0 else (self.done - 1,)
        return [Proposal(self.done, spec, parents, gradient=True)]

    def tell(self, outcomes: list[Outcome]) -> None:
        (outcome,) = outcomes
        self.done += 1
        ascent = outcome.gradient.reshape(self.noise.shape).float()
        norm = self.noise.norm()
        target = self.noise.numel() ** 0.5
        ascent = ascent - self.params.reg * 2 * (norm - target) * self.noise / norm
        ascent = band_filter(ascent, self.params.band, self.params.cutoff, self.params.levels)
        length = ascent.norm()
        if length > self.params.clip:
            ascent = ascent * (self.params.clip / length)
        self.velocity = self.params.momentum * self.velocity + ascent
        self.noise = self.noise + self.params.lr * (ascent + self.params.momentum * self.velocity)
