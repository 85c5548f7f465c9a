"""The round loop: proposal ids are unique per search, and the budget is charged before anything runs."""

import pytest
import torch

from noisesearch.algorithm import Proposal, SearchAlgorithm
from noisesearch.conditions import Condition
from noisesearch.engine import AlgorithmError, Executor, SearchSettings, Task
from noisesearch.testing.toys import ToyMixture, ToyVerifier


class Repeats(SearchAlgorithm):
    """Asks candidate 0, then candidate 0 again: the executor must refuse the second ask."""

    name = "repeats"

    def __init__(self, params, context):
        super().__init__(params, context)
        self.rounds = 0

    def ask(self):
        self.rounds += 1
        if self.rounds > 2:
            return []
        return [Proposal(0, self.context.fresh_noise(0))]

    def tell(self, outcomes):
        pass


class RepeatsWithinARound(Repeats):
    name = "repeats-within"

    def ask(self):
        return [Proposal(5, self.context.fresh_noise(5)), Proposal(5, self.context.fresh_noise(6))]


def run(algorithm, budget=7 * 4):
    settings = SearchSettings(algorithm, algorithm.Params(), budget, 4, "heun", 1.0, 8, 8, 8, 0)
    executor = Executor(ToyMixture(), [ToyVerifier()], settings)
    with torch.no_grad():
        return executor.run([Task(0, Condition(class_label=1), 0)]), executor


@pytest.mark.parametrize("algorithm, repeated", [(Repeats, 0), (RepeatsWithinARound, 5)])
def test_a_repeated_proposal_id_is_refused_before_it_is_evaluated(algorithm, repeated):
    with pytest.raises(AlgorithmError, match=f"candidate id {repeated} more than once"):
        _, executor = run(algorithm)


def test_the_refused_round_cost_nothing():
    settings = SearchSettings(Repeats, Repeats.Params(), 7 * 4, 4, "heun", 1.0, 8, 8, 8, 0)
    executor = Executor(ToyMixture(), [ToyVerifier()], settings)
    with pytest.raises(AlgorithmError), torch.no_grad():
        executor.run([Task(0, Condition(class_label=1), 0)])
    assert executor.stats.nfe == 7  # the first round's one sample; the repeated ask ran nothing
