"""No search: one noise, denoised once; the baseline every search is measured against."""

from noisesearch.algorithm import Outcome, Proposal, SearchAlgorithm


class NoSearch(SearchAlgorithm):
    """No search: the first noise of the search, denoised once (the paper's 'no search' baseline)."""

    name = "none"

    def __init__(self, params, context):
        super().__init__(params, context)
        self._asked = False

    def ask(self) -> list[Proposal]:
        if self._asked:
            return []
        self._asked = True
        return [Proposal(0, self.context.fresh_noise(0))]

    def tell(self, outcomes: list[Outcome]) -> None:
        pass
