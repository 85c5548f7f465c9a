"""Combining verifiers: mean rank (the paper's ensemble), weighted z-scores, and non-finite scores as the worst."""

import math

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.ensemble import mean_rank, oriented, weighted_standardized
from noisesearch.engine import Executor, SearchSettings, Task
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms import RandomSearch


def test_mean_rank_averages_ranks_and_keeps_a_single_verifier_raw():
    rows = [{"a": 1.0, "b": 30.0}, {"a": 2.0, "b": 10.0}, {"a": 3.0, "b": 20.0}]
    assert mean_rank(rows) == pytest.approx([0.5, 0.25, 0.75])
    assert mean_rank([{"a": 0.3}, {"a": 0.9}]) == [0.3, 0.9]


def test_weighted_standardized_weights_z_scores():
    rows = [{"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 10.0}]
    assert weighted_standardized(rows, {"a": 1.0, "b": 0.0}) == pytest.approx([-1.0, 1.0])
    assert weighted_standardized(rows, {"a": 1.0, "b": 2.0}) == pytest.approx([-3.0, 3.0])
    assert weighted_standardized([{"a": 5.0}, {"a": 5.0}], {"a": 1.0}) == [0.0, 0.0]


def test_non_finite_scores_are_the_worst():
    assert oriented(float("nan"), True) == -math.inf and oriented(float("inf"), False) == -math.inf
    rows = [{"a": oriented(float("nan"), True)}, {"a": -5.0}]
    assert weighted_standardized(rows, {"a": 1.0})[0] == -math.inf
    assert mean_rank([{"a": -math.inf, "b": 1.0}, {"a": 0.0, "b": 0.0}])[0] <= 0.5


class SometimesNaN(ToyVerifier):
    """A verifier that fails (NaN) on every other image."""

    name = "sometimes-nan"

    def score(self, images, conditions):
        scores = super().score(images, conditions)
        scores[::2] = float("nan")
        return scores


@pytest.mark.parametrize("ensemble", ["rank", "weighted"])
def test_a_verifier_giving_nan_never_crashes_nor_wins(ensemble, caplog):
    params = RandomSearch.parse_params({"n": 4})
    settings = SearchSettings(RandomSearch, params, 28, 4, "heun", 1.0, 8, 8, 8, 0, ensemble)
    executor = Executor(ToyMixture(), [SometimesNaN()], settings)
    with torch.no_grad():
        (result,) = executor.run([Task(0, Condition(class_label=1), 0)])
    assert math.isfinite(result.scores["sometimes-nan"]) and result.candidate % 2 == 1
    assert "non-finite score" in caplog.text


def test_weights_must_match_the_verifiers():
    from noisesearch.errors import UsageError
    from noisesearch.lightning.module import SearchModule

    with pytest.raises(UsageError, match="one non-negative weight per verifier"):
        SearchModule(ensemble="weighted", verifier_weights=[1.0, 2.0])
    with pytest.raises(UsageError, match="needs model.ensemble weighted"):
        SearchModule(verifier_weights=[1.0])
    assert SearchModule(ensemble="weighted", verifier_weights=[2.0]).describe()["ensemble"] == "weighted"


def test_an_ensemble_of_three_verifiers_drives_a_digits_search_end_to_end(cli, models, tmp_path):
    """Mean rank over digits-classifier, a transformers classifier and the self-supervised verifier, checked against
    the journal: the chosen candidate has the best mean rank among the search's finished candidates."""
    import json

    from noisesearch.store.journal import read_run

    verifiers = ["digits-classifier", f"classifier:{models['vit']}", "self-supervised:digits-classifier"]
    out = tmp_path / "run"
    done = cli("predict", "--model.verifiers", json.dumps(verifiers), "--data.classes", "3,8",
               "--model.algorithm_args", '{"n": 6}', "--model.budget_nfe", "42", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["verifier_s"]) == {"digits-classifier", "classifier", "self-supervised"}
    candidates, _ = read_run(out / "journal")
    for record in summary["results"]:
        assert set(record["scores"]) == {"digits-classifier", "classifier", "self-supervised"}
        rows = sorted((key[2], c.scores) for key, c in candidates.items() if key[0] == f"class:{record['condition']['class_label']}")
        ranks = mean_rank([scores for _, scores in rows])
        best = max(range(len(rows)), key=lambda i: (ranks[i], -rows[i][0]))
        assert record["candidate"] == rows[best][0] and record["scores"] == rows[best][1]
