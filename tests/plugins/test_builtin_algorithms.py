"""The built-in algorithms pass the shipped conformance suite and do what their papers say."""

import pytest
import torch

from noisesearch.errors import UsageError
from noisesearch.testing.algorithms import AlgorithmSuite, run
from noisesearch_plugins.algorithms import (BeamSearch, Evolution, GradientAscent, Halving, NoSearch, RandomSearch,
                                            SearchOverPaths, SMCSteering, ZeroOrder)



class TestNoSearch(AlgorithmSuite):
    algorithm = NoSearch


class TestRandomSearch(AlgorithmSuite):
    algorithm = RandomSearch


class TestRandomSearchOfFive(AlgorithmSuite):
    algorithm, args = RandomSearch, {"n": 5}


class TestZeroOrder(AlgorithmSuite):
    algorithm, args = ZeroOrder, {"n": 2}


class TestZeroOrderWithoutRestarts(AlgorithmSuite):
    algorithm, args = ZeroOrder, {"n": 4, "lam": 0.5, "restart": False}


class TestSearchOverPaths(AlgorithmSuite):
    algorithm, args = SearchOverPaths, {"n": 1, "m": 2}


class TestSMC(AlgorithmSuite):
    algorithm = SMCSteering


class TestSMCDifference(AlgorithmSuite):
    algorithm, args = SMCSteering, {"k": 4, "potential": "difference"}


class TestBeam(AlgorithmSuite):
    algorithm, args = BeamSearch, {"width": 2, "branch": 2}


class TestEvolution(AlgorithmSuite):
    algorithm, args = Evolution, {"population": 4, "elites": 2}


class TestEvolutionLowBand(AlgorithmSuite):
    algorithm, args = Evolution, {"population": 4, "elites": 1, "band": "low"}


class TestHalving(AlgorithmSuite):
    algorithm = Halving


class TestHalvingTwoRungs(AlgorithmSuite):
    algorithm, args = Halving, {"eta": 2, "rungs": [1, 2]}


class TestGradient(AlgorithmSuite):
    algorithm, args = GradientAscent, {"iterations": 2}


class TestEvolutionWaveletBand(AlgorithmSuite):
    algorithm, args = Evolution, {"population": 4, "elites": 2, "band": "low", "levels": 1}


class TestZeroOrderWaveletBand(AlgorithmSuite):
    algorithm, args = ZeroOrder, {"n": 2, "band": "low", "levels": 2}


def test_spectral_zero_order_moves_only_the_pivots_low_band():
    """A neighbour in the wavelet space keeps the pivot's high band exactly and stays a standard Gaussian."""
    from noisesearch.noise import band_filter

    results, executor = run(NoSearch)
    context = executor.context(results[0].task)
    zo = ZeroOrder(ZeroOrder.parse_params({"n": 2, "band": "low", "levels": 2, "lam": 0.6}), context)
    pivot, *neighbours = zo.ask()
    shape = context.shape
    for neighbour in neighbours:
        built, base = neighbour.noise.build(shape), pivot.noise.build(shape)
        assert torch.allclose(band_filter(built, "high", 0.25, 2), band_filter(base, "high", 0.25, 2), atol=1e-5)
        assert not torch.allclose(band_filter(built, "low", 0.25, 2), band_filter(base, "low", 0.25, 2))
        assert neighbour.noise.variance(shape) == pytest.approx(1.0)
    with pytest.raises(UsageError, match="levels=4 needs latent sides divisible by 16"):
        ZeroOrder.check_context(ZeroOrder.parse_params({"band": "low", "levels": 4}), context)


def best_scores(algorithm, args=None, budget=7 * 16):
    results, _ = run(algorithm, args, budget_nfe=budget)
    return torch.tensor([r.scores["toy-closeness"] for r in results])


def test_random_uses_whole_budget_and_keeps_best():
    results, _ = run(RandomSearch, budget_nfe=7 * 10 + 6)
    assert all(r.candidates == 10 and r.nfe == 70 for r in results)
    assert (best_scores(RandomSearch) >= best_scores(NoSearch)).all()


@pytest.mark.parametrize("algorithm,args", [
    (ZeroOrder, {"n": 4}), (SearchOverPaths, {"n": 2, "m": 2}), (SMCSteering, None), (BeamSearch, None),
    (Evolution, None), (Halving, None), (GradientAscent, None)])
def test_every_search_beats_no_search_on_average(algorithm, args):
    assert best_scores(algorithm, args, 7 * 40).mean() > best_scores(NoSearch).mean()


def test_zero_order_neighbours_stay_gaussian_and_close():
    results, executor = run(ZeroOrder, {"n": 4, "lam": 0.31}, budget_nfe=7 * 5)
    pivot = ZeroOrder(ZeroOrder.parse_params({"n": 4}), executor.context(results[0].task))
    proposals = pivot.ask()
    shape = (1, 64, 64)
    base = proposals[0].noise.build(shape).flatten()
    for neighbour in proposals[1:]:
        other = neighbour.noise.build(shape).flatten()
        assert neighbour.parents == (proposals[0].id,)
        assert torch.nn.functional.cosine_similarity(base, other, dim=0) == pytest.approx(0.95, abs=0.02)
        assert other.std() == pytest.approx(1.0, abs=0.03)


def test_halving_finishes_fewer_candidates_than_it_screens():
    results, _ = run(Halving, {"eta": 4, "rungs": [1]}, budget_nfe=7 * 4)
    for result in results:
        assert result.candidates > 7 and result.replayable


def test_paths_and_smc_results_are_marked_not_replayable_from_noise():
    for algorithm, args in ((SearchOverPaths, {"n": 1, "m": 2}), (SMCSteering, None)):
        results, _ = run(algorithm, args)
        assert not any(r.replayable for r in results)


def test_smc_resamples_towards_better_particles():
    algorithm = SMCSteering(SMCSteering.parse_params({"k": 4, "lam": 100.0}), run(NoSearch)[1].context(
        run(NoSearch)[0][0].task))
    from noisesearch.algorithm import Outcome
    algorithm.ask()
    algorithm.tell([Outcome(i, score) for i, score in enumerate([0.0, 0.0, 0.0, 1.0])])
    assert algorithm.particles == [3, 3, 3, 3]


@pytest.mark.parametrize("algorithm,args,message", [
    (ZeroOrder, {"lam": 0}, "lam=0 must lie in (0, 1)"),
    (ZeroOrder, {"n": 0}, "n=0 must be an integer >= 1"),
    (SearchOverPaths, {"df": 0.5, "db": 0.4}, "must exceed df"),
    (SMCSteering, {"potential": "min"}, "potential='min'"),
    (BeamSearch, {"width": 0}, "width=0"),
    (Evolution, {"elites": 8}, "elites=8"),
    (Halving, {"eta": 1}, "eta=1"),
    (GradientAscent, {"lr": -1.0}, "lr=-1.0"),
])
def test_nonsense_hyperparameters_are_refused(algorithm, args, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        algorithm.parse_params(args)


@pytest.mark.parametrize("algorithm,args", [(SearchOverPaths, None), (BeamSearch, {"width": 8, "branch": 8}),
                                            (Halving, {"n": 100}), (ZeroOrder, {"n": 30}),
                                            (GradientAscent, {"iterations": 10})])
def test_budget_too_small_for_one_round_is_refused(algorithm, args):
    with pytest.raises(UsageError, match="budget_nfe"):
        run(algorithm, args, budget_nfe=7 * 16)
