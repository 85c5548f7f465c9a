"""No search: one noise, denoised once; the baseline every search is measured against."""

from dataclasses import dataclass

from noisesearch.plugin import SearchAlgorithm

from .random_search import RandomSearch


class NoSearch(RandomSearch):
    """No search: the first noise of the search, denoised once (the paper's 'no search' baseline)."""

    name = "none"
    initial_noises_only = True
    uses_budget = False
    anytime = False  # one sample, whatever the clock

    @dataclass(frozen=True)
    class Params:
        pass

    @classmethod
    def check(cls, params) -> None:
        pass

    @classmethod
    def check_budget(cls, params, budget_nfe: int, sample_nfe: int) -> None:
        SearchAlgorithm.check_budget(params, budget_nfe, sample_nfe)

    def count(self) -> int:
        return 1
