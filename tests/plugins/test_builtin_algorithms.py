"""The built-in algorithms pass the shipped conformance suite."""

import pytest

from noisesearch.testing.algorithms import CHECKS, run
from noisesearch_plugins.algorithms import NoSearch, RandomSearch


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("algorithm,args", [(NoSearch, None), (RandomSearch, None), (RandomSearch, {"n": 5})])
def test_conformance(algorithm, args, check):
    check(algorithm, args)


def test_random_uses_whole_budget_and_keeps_best():
    results, executor = run(RandomSearch, budget_nfe=7 * 10 + 6)
    assert all(r.candidates == 10 and r.nfe == 70 for r in results)
    none, _ = run(NoSearch)
    assert all(r.scores["toy-closeness"] >= n.scores["toy-closeness"] for r, n in zip(results, none))


def test_random_refuses_n_over_budget():
    from noisesearch.errors import UsageError

    with pytest.raises(UsageError, match="raise the budget or lower n"):
        run(RandomSearch, {"n": 20}, budget_nfe=70)
    with pytest.raises(UsageError, match="positive integer"):
        RandomSearch.parse_params({"n": 0})
    with pytest.raises(UsageError, match="no hyperparameter 'm'"):
        RandomSearch.parse_params({"m": 3})
