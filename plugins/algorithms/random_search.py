"""Random search (best-of-N), Ma et al. 2025 section 3.3: N i.i.d. noises, keep the verifier's best."""

from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import BudgetError, Outcome, Proposal, SearchAlgorithm, UsageError


class RandomSearch(SearchAlgorithm):
    """Random search (best-of-N): N i.i.d. noises, each fully denoised, keep the best (Ma et al. 2025, 3.3)."""

    name = "random"
    initial_noises_only = True
    anytime = True

    @dataclass(frozen=True)
    class Params:
        """``n``: candidates per search; by default as many as ``model.budget_nfe`` pays for."""

        n: Optional[int] = None

    @classmethod
    def check(cls, params: "RandomSearch.Params") -> None:
        if params.n is not None and (not isinstance(params.n, int) or params.n < 1):
            raise UsageError(f"algorithm 'random': n={params.n!r} must be a positive integer (or unset)")

    @classmethod
    def check_clock(cls, params) -> None:
        if params.n is not None:
            raise UsageError(f"algorithm 'random': n={params.n} fixes the candidates, model.budget_seconds stops at "
                             "the clock; leave n unset")

    @classmethod
    def check_budget(cls, params, budget_nfe: int, sample_nfe: int) -> None:
        super().check_budget(params, budget_nfe, sample_nfe)
        if params.n is not None and params.n * sample_nfe > budget_nfe:
            raise BudgetError(
                f"algorithm 'random': n={params.n} samples need {params.n * sample_nfe} NFEs but "
                f"model.budget_nfe={budget_nfe}; raise the budget or lower n"
            )

    def __init__(self, params, context):
        super().__init__(params, context)
        self._next = 0

    def ask(self) -> list[Proposal]:
        """Every candidate at once; under a clock (``round_size``), a round of that many at a time: the same
        candidates in the same order, so where the clock stops changes nothing but how many there are."""
        size = self.context.round_size
        end = self.count() if size is None else min(self.count(), self._next + size)
        proposals = [Proposal(i, self.context.fresh_noise(i)) for i in range(self._next, end)]
        self._next = end
        return proposals

    def count(self) -> int:
        """Candidates of the search: ``n``, or as many as the budget pays for."""
        return self.params.n or self.context.max_samples

    def tell(self, outcomes: list[Outcome]) -> None:
        pass
