"""``model.budget_scope run``: a run's searches share one budget; each spends half a share, then the searches whose
best score still climbs get the rest, never more than the run's total, the same whatever the batch size."""

import pytest

import noisesearch
from noisesearch.errors import BudgetError, UsageError
from noisesearch.run.settings import build
from noisesearch.store.journal import read_run
from noisesearch.store.records import BASELINE

SAMPLE = 7  # digits: 4 Heun steps
SHARE = 8 * SAMPLE


def shared(tmp_path, name, batch_size=16, scope="run"):
    out = tmp_path / name
    results = noisesearch.search(classes=list(range(4)), pipeline="digits", algorithm="random", budget_nfe=SHARE,
                                 budget_scope=scope, batch_size=batch_size, out=str(out))
    return results, read_run(out / "journal")[0]


def test_searches_share_the_runs_budget_and_the_climbing_ones_get_more(tmp_path):
    results, candidates = shared(tmp_path, "run")
    spent = [r.nfe for r in results]
    assert sum(spent) <= SHARE * len(results) and sum(spent) > SHARE * len(results) - len(results) * SAMPLE
    assert min(spent) == SHARE // 2 and max(spent) > SHARE  # half a share each first; the climbing ones more
    assert all(nfe <= 2 * SHARE for nfe in spent)
    first = SHARE // 2 // SAMPLE  # candidates each search made before the first decision

    def climb(result):
        scores = [c.scores["digits-classifier"] for k, c in sorted(candidates.items(), key=lambda kv: kv[1].id)
                  if k[0] == result.task.condition.key and c.id != BASELINE][:first]
        return max(scores) - max(scores[:first // 2])

    extended = [climb(r) for r in results if r.nfe > SHARE // 2]
    stopped = [climb(r) for r in results if r.nfe == SHARE // 2]
    assert len(extended) == len(results) // 2 and min(extended) >= max(stopped)


def test_the_allocation_does_not_depend_on_the_batch_size(tmp_path):
    small, _ = shared(tmp_path, "small", batch_size=3)  # rounds of 4 candidates in chunks of 3, or in one
    large, _ = shared(tmp_path, "large", batch_size=64)
    assert [(r.nfe, r.candidate, r.score) for r in small] == [(r.nfe, r.candidate, r.score) for r in large]


@pytest.mark.parametrize("settings,error,message", [
    ({"algorithm": "smc"}, BudgetError, "plans its rounds from its budget"),
    ({"budget_seconds": 5.0}, UsageError, "shares NFEs, not seconds"),
    ({"algorithm_args": {"n": 4}}, UsageError, "cannot give algorithm 'random' more candidates"),
])
def test_a_run_wide_budget_is_refused_where_searches_cannot_be_extended(settings, error, message):
    with pytest.raises(error, match=message):
        build(**{"pipeline": "digits", "algorithm": "random", "budget_scope": "run", **settings})
