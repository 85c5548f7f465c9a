"""``model.budget_seconds``: anytime searches stop asking when the clock is spent (Flash-BoN counts in seconds);
the NFEs each search reached are recorded, and a rerun with them as ``budget_nfe`` gives the same result."""

import json

import pytest
import torch

import noisesearch
from noisesearch.errors import UsageError


def test_a_spent_clock_stops_after_the_first_round(tmp_path):
    # 2 searches at batch 4: rounds of 2 candidates each; a clock of 1 ms is spent when the first round ends
    results = noisesearch.search(classes=[3, 7], algorithm="random", budget_seconds=0.001, batch_size=4,
                                 out=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    sample = summary["sample_nfe"]
    assert [r.nfe for r in results] == [2 * sample, 2 * sample] and [r.candidates for r in results] == [2, 2]
    assert summary["budget_seconds"] == 0.001 and summary["nfe_reached"] == [2 * sample, 2 * sample]
    assert summary["budget_nfe"] == 4096 * sample  # the cap the clock reaches first


def test_a_clock_spent_before_its_first_read_still_finishes_every_searchs_first_round():
    # a nanosecond a search is spent before anything runs: were the clock read before the first round, the
    # searches would end without a finished sample
    results = noisesearch.search(classes=[3, 7, 1], algorithm="random", budget_seconds=1e-9, batch_size=6)
    sample = results.summary.header.sample_nfe
    assert [r.candidates for r in results] == [2, 2, 2] and [r.nfe for r in results] == [2 * sample] * 3


def test_batched_searches_share_the_sum_of_their_seconds(monkeypatch):
    """A cohort of four searches at 1 s each has 4 s between them: not spent at 2.5 s, spent at 4.1 s; one search
    alone is spent at 1.5 s."""
    from types import SimpleNamespace

    from noisesearch.engine import stopping

    now = [100.0]
    monkeypatch.setattr(stopping.time, "perf_counter", lambda: now[0])

    def cohort(count):
        return [SimpleNamespace(settings=SimpleNamespace(budget_seconds=1.0), done=False) for _ in range(count)]

    clock, four, one = stopping.Clock(lambda: 0.0), cohort(4), cohort(1)
    clock.admit(four)
    clock.admit(one)
    now[0] = 101.5
    clock.check(four + one)
    assert [s.done for s in four] == [False] * 4 and one[0].done
    now[0] = 102.5
    clock.check(four)
    assert not any(s.done for s in four)
    now[0] = 104.1
    clock.check(four)
    assert all(s.done for s in four)


@pytest.mark.parametrize("algorithm, args", [("random", {}), ("zero-order", {"n": 2})])
def test_a_rerun_with_the_nfes_reached_gives_the_same_result(algorithm, args):
    timed = noisesearch.search(classes=[3, 7], algorithm=algorithm, algorithm_args=args, budget_seconds=1.0,
                               batch_size=4)
    for result in timed:
        (again,) = noisesearch.search(classes=[result.task.condition.class_label], algorithm=algorithm,
                                      algorithm_args=args, budget_nfe=result.nfe, batch_size=4)
        assert (again.candidate, again.nfe, again.candidates) == (result.candidate, result.nfe, result.candidates)
        # the timed run batched both searches' candidates together, the rerun one search's alone: the digits
        # network's CPU kernels round differently per batch, as across batch sizes (test_predict's tolerances)
        assert again.score == pytest.approx(result.score, abs=1e-5)
        assert torch.equal(again.noise, result.noise) and torch.allclose(again.image, result.image, atol=1e-5)


def test_clocks_that_cannot_stop_a_search_are_refused_in_one_line(in_process):
    with pytest.raises(UsageError, match="algorithm 'smc' plans its rounds from model.budget_nfe.*anytime "
                                         "algorithm \\(evolution, gradient, random, zero-order"):
        noisesearch.search(classes=[3], algorithm="smc", budget_seconds=5)
    with pytest.raises(UsageError, match="n=4 fixes the candidates"):
        noisesearch.search(classes=[3], algorithm="random", algorithm_args={"n": 4}, budget_seconds=5)
    done = in_process("predict", "--model.budget_seconds", "-3", "--data.classes", "3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
