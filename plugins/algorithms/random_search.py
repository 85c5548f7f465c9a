"""Random search (best-of-N), Ma et al. 2025 section 3.3: N i.i.d. noises, keep the verifier's best."""

from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import BudgetError, Outcome, Proposal, SearchAlgorithm, UsageError


class RandomSearch(SearchAlgorithm):
    """Random search (best-of-N): N i.i.d. noises, each fully denoised, keep the best (Ma et al. 2025, 3.3)."""

    name = "random"
    initial_noises_only = True

    @dataclass(frozen=True)
    class Params:
        """``n``: candidates per search; by default as many as ``model.budget_nfe`` pays for."""

        n: Optional[int] = None

    @classmethod
    def check(cls, params: "RandomSearch.Params") -> None:
        if params.n is not None and (not isinstance(params.n, int) or params.n < 1):
            raise UsageError(f"algorithm 'random': n={params.n!r} must be a positive integer (or unset)")

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
        self._asked = False

    def ask(self) -> list[Proposal]:
        if self._asked:
            return []
        self._asked = True
        return [Proposal(i, self.context.fresh_noise(i)) for i in range(self.count())]

    def count(self) -> int:
        """Candidates of the search: ``n``, or as many as the budget pays for."""
        return self.params.n or self.context.max_samples

    def tell(self, outcomes: list[Outcome]) -> None:
        pass
