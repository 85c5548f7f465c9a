"""Cross-entropy (evolutionary) search over the noise, optionally over its low-frequency part only
(Spectral Evolution Search, arXiv 2602.03208)."""

from dataclasses import dataclass

from noisesearch.plugin import NoiseSpec, Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget, top

BANDS = ("all", "low")


def band_part(spec: NoiseSpec, band: str) -> NoiseSpec:
    """The part of a recipe in ``band``: "all" terms become ``band`` terms; terms of the other band drop."""
    if band == "all":
        return spec
    kept = [(s, w, b) for s, w, b in zip(spec.seeds, spec.weights, spec.bands) if b in ("all", band)]
    return NoiseSpec(tuple(s for s, _, _ in kept), tuple(w for _, w, _ in kept), tuple(band for _ in kept),
                     spec.cutoff)


class Evolution(SearchAlgorithm):
    """Cross-entropy search: sample a population around a mean noise, refit the mean to the elites, repeat."""

    name = "evolution"
    anytime = True
    initial_noises_only = True

    @dataclass(frozen=True)
    class Params:
        """``population`` per generation, ``elites`` kept to refit the mean; candidates are mean + ``spread`` *
        fresh noise, renormalised to a standard Gaussian; ``spread`` shrinks by ``decay`` each generation.
        ``band`` "low" searches only frequencies below ``cutoff`` (fraction of Nyquist) and keeps the high band
        of the first generation's best."""

        population: int = 8
        elites: int = 2
        spread: float = 1.0
        decay: float = 0.7
        band: str = "all"
        cutoff: float = 0.25

    @classmethod
    def check(cls, params):
        require(isinstance(params.population, int) and params.population >= 2, cls.name,
                f"population={params.population!r} must be an integer >= 2")
        require(isinstance(params.elites, int) and 1 <= params.elites < params.population, cls.name,
                f"elites={params.elites!r} must lie in 1 .. population - 1")
        require(params.spread > 0, cls.name, f"spread={params.spread} must be positive")
        require(0 < params.decay <= 1, cls.name, f"decay={params.decay} must lie in (0, 1]")
        require(params.band in BANDS, cls.name, f"band={params.band!r}; use one of {BANDS}")
        require(0 < params.cutoff < 1, cls.name, f"cutoff={params.cutoff} must lie in (0, 1)")

    @classmethod
    def check_budget(cls, params, budget_nfe, sample_nfe):
        require_budget(cls.name, params.population * sample_nfe, budget_nfe,
                       f"one generation (population={params.population})")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.next_id = 0
        self.generation = 0
        self.spent = 0
        self.mean: NoiseSpec = NoiseSpec()
        self.base: NoiseSpec = NoiseSpec()
        self.specs: dict[int, NoiseSpec] = {}

    def _candidate(self) -> NoiseSpec:
        fresh = NoiseSpec.fresh(self.context.derive_seed(self.next_id))
        if self.generation == 0:
            return NoiseSpec(fresh.seeds, fresh.weights, fresh.bands, self.params.cutoff)
        spread = self.params.spread * self.params.decay ** (self.generation - 1)
        band = self.params.band
        moved = self.mean.combine(band_part(NoiseSpec(fresh.seeds, fresh.weights, fresh.bands, self.params.cutoff),
                                            band), 1.0, spread)
        if band == "all":
            return moved.normalized(self.context.shape)
        low = moved.normalized(self.context.shape)
        share = NoiseSpec(low.seeds[:1], (1.0,), ("low",), self.params.cutoff).variance(self.context.shape)
        low = NoiseSpec(low.seeds, tuple(w * share**0.5 for w in low.weights), low.bands, low.cutoff)
        return low.combine(band_part(self.base, "high"), 1.0, 1.0)

    def ask(self) -> list[Proposal]:
        count = min(self.params.population, self.context.max_samples - self.spent)
        if count < 1 or (self.generation > 0 and count < 2):
            return []
        proposals = []
        for _ in range(count):
            spec = self._candidate()
            self.specs[self.next_id] = spec
            proposals.append(Proposal(self.next_id, spec))
            self.next_id += 1
        self.spent += count
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        elites = top(outcomes, self.params.elites)
        if self.generation == 0:
            self.base = self.specs[elites[0].id]
        mean = NoiseSpec(cutoff=self.params.cutoff)
        for elite in elites:
            mean = mean.combine(band_part(self.specs[elite.id], self.params.band), 1.0, 1.0 / len(elites))
        self.mean = mean
        self.generation += 1
