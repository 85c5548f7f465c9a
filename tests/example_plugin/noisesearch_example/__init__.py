"""An example noisesearch plugin: verifier ``brightness`` and algorithm ``early-stop``."""

from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import Proposal, SearchAlgorithm, UsageError, Verifier, hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets


class Brightness(Verifier):
    """Mean pixel brightness of the image (a toy verifier: no model, any condition)."""

    name = "brightness"

    def score(self, images, conditions):
        return images.float().mean(dim=(1, 2, 3))


class EarlyStop(SearchAlgorithm):
    """Best-of-N in rounds of ``k`` candidates that stops once a score reaches ``target``."""

    name = "early-stop"

    @dataclass(frozen=True)
    class Params:
        k: int = 4
        target: Optional[float] = None

    @classmethod
    def check(cls, params):
        if params.k < 1:
            raise UsageError(f"algorithm 'early-stop': k={params.k} must be at least 1")

    @classmethod
    def check_budget(cls, params, budget_nfe, sample_nfe):
        if budget_nfe < params.k * sample_nfe:
            raise UsageError(
                f"algorithm 'early-stop': one round of k={params.k} needs {params.k * sample_nfe} NFEs; "
                f"raise model.budget_nfe or lower k"
            )

    def __init__(self, params, context):
        super().__init__(params, context)
        self.next_id = 0
        self.best = float("-inf")

    def ask(self):
        rounds_left = (self.context.max_samples - self.next_id) // self.params.k
        reached = self.params.target is not None and self.best >= self.params.target
        if rounds_left < 1 or reached:
            return []
        ids = range(self.next_id, self.next_id + self.params.k)
        self.next_id += self.params.k
        return [Proposal(i, self.context.fresh_noise(i)) for i in ids]

    def tell(self, outcomes):
        self.best = max([self.best] + [o.score for o in outcomes])


@hookimpl
def noisesearch_verifiers():
    return [Brightness]


@hookimpl
def noisesearch_algorithms():
    return [EarlyStop]
