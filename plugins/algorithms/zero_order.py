"""Zero-order search (Ma et al. 2025, 3.3): neighbours of a pivot noise; the best becomes the pivot."""

from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import NoiseSpec, Outcome, Proposal, SearchAlgorithm

from .common import band_part, in_bands, require, require_bands, require_budget


class ZeroOrder(SearchAlgorithm):
    """Zero-order search (ZO-N): N neighbours around a pivot noise, the best becomes the pivot; restarts."""

    name = "zero-order"
    anytime = True
    initial_noises_only = True

    @dataclass(frozen=True)
    class Params:
        """``n`` neighbours per round; a neighbour is ``sqrt(1 - lam^2) * pivot + lam * fresh`` (still a standard
        Gaussian; cosine to the pivot about sqrt(1 - lam^2): lam 0.31 gives 0.95); ``restart`` from a fresh
        noise when a round brings no improvement. ``band`` "low" moves only the pivot's low frequencies (a
        neighbour is the pivot's high band plus ``sqrt(1 - lam^2)`` of its low band plus ``lam`` of a fresh low
        band): those below ``cutoff`` (fraction of Nyquist), or with ``levels`` L >= 1 the Haar wavelet
        approximation at L levels (Spectral Evolution Search's wavelet space)."""

        n: int = 4
        lam: float = 0.31
        restart: bool = True
        band: str = "all"
        cutoff: float = 0.25
        levels: int = 0

    @classmethod
    def check(cls, params):
        require(isinstance(params.n, int) and params.n >= 1, cls.name, f"n={params.n!r} must be an integer >= 1")
        require(0 < params.lam < 1, cls.name, f"lam={params.lam} must lie in (0, 1): 0 stays at the pivot, "
                                              "1 is random search")
        require_bands(cls.name, params)

    @classmethod
    def check_context(cls, params, context):
        require_bands(cls.name, params, context.shape)

    @classmethod
    def check_budget(cls, params, budget_nfe, sample_nfe):
        require_budget(cls.name, (1 + params.n) * sample_nfe, budget_nfe, f"one round (a pivot and n={params.n})")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.next_id = 0
        self.spent = 0
        self.pivot: Optional[NoiseSpec] = None
        self.pivot_id: Optional[int] = None
        self.pivot_score: Optional[float] = None
        self.specs: dict[int, NoiseSpec] = {}

    def _new(self, noise: NoiseSpec, parents=()) -> Proposal:
        proposal = Proposal(self.next_id, noise, parents)
        self.specs[proposal.id] = noise
        self.next_id += 1
        return proposal

    def _neighbour(self, a: float) -> NoiseSpec:
        """``a * pivot + lam * fresh`` in the searched band; the pivot's other band as it is."""
        fresh = self.context.fresh_noise(self.next_id)
        if self.params.band == "all":
            return self.pivot.combine(fresh, a, self.params.lam)
        pivot = in_bands(self.pivot, self.params)
        low = band_part(pivot, "low").combine(band_part(in_bands(fresh, self.params), "low"), a - 1.0,
                                              self.params.lam)
        return pivot.combine(low, 1.0, 1.0)

    def ask(self) -> list[Proposal]:
        left = self.context.max_samples - self.spent
        proposals = []
        if self.pivot is None:
            if left < 1:
                return []
            self.pivot_id = self.next_id
            self.pivot = self.context.fresh_noise(self.pivot_id)
            proposals.append(self._new(self.pivot))
            left -= 1
        a = (1 - self.params.lam**2) ** 0.5
        for _ in range(min(self.params.n, left)):
            proposals.append(self._new(self._neighbour(a), (self.pivot_id,)))
        self.spent += len(proposals)
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        by_id = {o.id: o for o in outcomes}
        if self.pivot_id in by_id:
            self.pivot_score = by_id[self.pivot_id].score
        neighbours = [o for o in outcomes if o.id != self.pivot_id]
        if not neighbours:
            return
        best = max(neighbours, key=lambda o: (o.score, -o.id))
        if best.score > self.pivot_score:
            self.pivot, self.pivot_id, self.pivot_score = self.specs[best.id], best.id, best.score
        elif self.params.restart:
            self.pivot, self.pivot_id, self.pivot_score = None, None, None

