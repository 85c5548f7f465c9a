"""Search over paths (Ma et al. 2025, 3.3): re-noise promising intermediate samples and solve again."""

from dataclasses import dataclass

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget, sigma_of_time, top


class SearchOverPaths(SearchAlgorithm):
    """Search over paths (Paths-N): N paths to level t, M re-noisings (+Df) and solves (-Db) each, keep the top N."""

    name = "paths"

    @dataclass(frozen=True)
    class Params:
        """``n`` paths kept, ``m`` branches per path and round; levels in flow time t in [0, 1), mapped to the
        model's noise level of equal signal-to-noise ratio, sigma = t / (1 - t): start level ``t``, forward
        re-noising ``df``, backward solve ``db`` (db > df so each round makes net progress)."""

        n: int = 4
        m: int = 8
        t: float = 0.11
        df: float = 0.78
        db: float = 0.81

    @classmethod
    def check(cls, params):
        require(isinstance(params.n, int) and params.n >= 1, cls.name, f"n={params.n!r} must be an integer >= 1")
        require(isinstance(params.m, int) and params.m >= 1, cls.name, f"m={params.m!r} must be an integer >= 1")
        require(0 < params.t < 1, cls.name, f"t={params.t} must lie in (0, 1)")
        require(params.df > 0, cls.name, f"df={params.df} must be positive")
        require(params.db > params.df, cls.name, f"db={params.db} must exceed df={params.df} to make progress")
        require(params.t + params.df < 1, cls.name, f"t + df = {params.t + params.df} must stay below 1")

    @classmethod
    def plan(cls, params) -> list[tuple[float, float]]:
        """The rounds as (re-noise level, stop level) in flow time, ending at 0."""
        rounds, level = [], params.t
        while level > 0:
            stop = max(level + params.df - params.db, 0.0)
            rounds.append((level + params.df, stop))
            level = stop
        return rounds

    @classmethod
    def total_nfe(cls, params, context) -> int:
        start = sigma_of_time(params.t)
        total = params.n * context.cost(None, stop=start)
        level = start
        for up, stop in cls.plan(params):
            total += params.n * params.m * context.cost(level, sigma_of_time(stop), renoise_to=sigma_of_time(up))
            level = sigma_of_time(stop)
        return total

    @classmethod
    def check_context(cls, params, context):
        require_budget(cls.name, cls.total_nfe(params, context), context.budget_nfe,
                       f"n={params.n}, m={params.m} over {len(cls.plan(params))} rounds")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.rounds = self.plan(params)
        self.round = -1
        self.next_id = 0
        self.paths: list[Outcome] = []

    def ask(self) -> list[Proposal]:
        if self.round >= len(self.rounds):
            return []
        proposals = []
        if self.round < 0:
            stop = sigma_of_time(self.params.t)
            for _ in range(self.params.n):
                proposals.append(Proposal(self.next_id, self.context.fresh_noise(self.next_id), stop=stop))
                self.next_id += 1
            return proposals
        up, stop = self.rounds[self.round]
        for path in self.paths:
            for _ in range(self.params.m):
                proposals.append(Proposal(self.next_id, self.context.fresh_noise(self.next_id), (path.id,),
                                          start=path.id, renoise_to=sigma_of_time(up), stop=sigma_of_time(stop)))
                self.next_id += 1
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        self.paths = top(outcomes, self.params.n)
        self.round += 1
