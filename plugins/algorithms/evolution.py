"""Cross-entropy (evolutionary) search over the noise, optionally over its low-frequency part only
(Spectral Evolution Search, arXiv 2602.03208)."""

from dataclasses import dataclass

from noisesearch.plugin import NoiseSpec, Outcome, Proposal, SearchAlgorithm

from .common import band_part, in_bands, require, require_bands, require_budget, top

class Evolution(SearchAlgorithm):
    """Cross-entropy search: sample a population around a mean noise, refit the mean to the elites, repeat."""

    name = "evolution"
    anytime = True
    initial_noises_only = True

    @dataclass(frozen=True)
    class Params:
        """``population`` per generation, ``elites`` kept to refit the mean; candidates are mean + ``spread`` *
        fresh noise, renormalised to a standard Gaussian; ``spread`` shrinks by ``decay`` each generation.
        ``band`` "low" searches only the low frequencies and keeps the high band of the first generation's best:
        those below ``cutoff`` (fraction of Nyquist), or with ``levels`` L >= 1 the Haar wavelet approximation at L
        levels (Spectral Evolution Search's wavelet space: 4^-L of the noise's dimensions)."""

        population: int = 8
        elites: int = 2
        spread: float = 1.0
        decay: float = 0.7
        band: str = "all"
        cutoff: float = 0.25
        levels: int = 0

    @classmethod
    def check(cls, params):
        require(isinstance(params.population, int) and params.population >= 2, cls.name,
                f"population={params.population!r} must be an integer >= 2")
        require(isinstance(params.elites, int) and 1 <= params.elites < params.population, cls.name,
                f"elites={params.elites!r} must lie in 1 .. population - 1")
        require(params.spread > 0, cls.name, f"spread={params.spread} must be positive")
        require(0 < params.decay <= 1, cls.name, f"decay={params.decay} must lie in (0, 1]")
        require_bands(cls.name, params)

    @classmethod
    def check_context(cls, params, context):
        require_bands(cls.name, params, context.shape)

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
            return in_bands(fresh, self.params)
        spread = self.params.spread * self.params.decay ** (self.generation - 1)
        band = self.params.band
        moved = self.mean.combine(band_part(in_bands(fresh, self.params), band), 1.0, spread)
        if band == "all":
            return moved.normalized(self.context.shape)
        low = moved.normalized(self.context.shape)
        share = in_bands(NoiseSpec(low.seeds[:1], (1.0,), ("low",)), self.params).variance(self.context.shape)
        low = in_bands(NoiseSpec(low.seeds, tuple(w * share**0.5 for w in low.weights), low.bands), self.params)
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
        mean = in_bands(NoiseSpec(), self.params)
        for elite in elites:
            mean = mean.combine(band_part(self.specs[elite.id], self.params.band), 1.0, 1.0 / len(elites))
        self.mean = mean
        self.generation += 1
