"""Short traces of SMC, zero-order, evolution, paths and beam driven by given scores, checked against hand
computations."""

import dataclasses
import math
import statistics

import pytest

from noisesearch.algorithm import Outcome
from noisesearch.testing.algorithms import run
from noisesearch_plugins.algorithms.beam import BeamSearch
from noisesearch_plugins.algorithms.common import sigma_of_time
from noisesearch_plugins.algorithms.evolution import Evolution
from noisesearch_plugins.algorithms.halving import Halving
from noisesearch_plugins.algorithms.none import NoSearch
from noisesearch_plugins.algorithms.paths import SearchOverPaths
from noisesearch_plugins.algorithms.smc import SMCSteering
from noisesearch_plugins.algorithms.zero_order import ZeroOrder


@pytest.fixture(scope="module")
def context():
    """A 4-step search context of the toy world (5 noise levels), 16 samples' budget."""
    results, executor = run(NoSearch)
    return executor.context(results[0].task)


def tell(algorithm, proposals, scores):
    algorithm.tell([Outcome(p.id, score) for p, score in zip(proposals, scores)])


REWARDS = ([0.2, -1.0, 0.5, 0.1], [0.0, 30.0, 0.3, 0.4], [1.0, 2.0, 3.0, 40.0])
# FK steering on a 4-step schedule (interior levels 1-3; 3 is the last, where max and sum are corrected), lam 2,
# rewards as they are, adaptive: per potential and level, (log-weights, r~ carried, log product of potentials),
# worked by hand. Level 1 keeps every particle (ESS 3.42 for max, 2.79 for sum and difference, of 4: above 0.5 * 4);
# levels 2 and 3 put all weight on one slot (1, then 3), so every particle descends from it.
HAND = {
    "max": [([0.4, 0.0, 1.0, 0.2], [0.2, 0.0, 0.5, 0.1], [0.0] * 4),
            ([0.4, 60.0, 1.0, 0.8], [30.0] * 4, [60.0] * 4),
            ([0.0, 0.0, 0.0, 20.0], [40.0] * 4, [80.0] * 4)],  # 2 * max(r, 30) - 60
    "sum": [([0.4, -2.0, 1.0, 0.2], [0.2, -1.0, 0.5, 0.1], [0.0] * 4),
            ([0.4, 58.0, 1.6, 1.0], [29.0] * 4, [58.0] * 4),
            ([2.0, 4.0, 6.0, 80.0], [69.0] * 4, [138.0] * 4)],  # 2 * (r + 29) - 58
    "difference": [([0.4, -2.0, 1.0, 0.2], [0.2, -1.0, 0.5, 0.1], [0.0] * 4),
                   ([-0.4, 62.0, -0.4, 0.6], [30.0] * 4, [62.0] * 4),
                   ([-58.0, -56.0, -54.0, 20.0], [40.0] * 4, [82.0] * 4)],  # no terminal correction
}


@pytest.mark.parametrize("potential", list(HAND))
def test_smc_weights_are_fk_steerings_potentials_with_its_terminal_correction(context, potential):
    params = {"k": 4, "lam": 2.0, "potential": potential, "scale": "none", "adaptive": True}
    smc = SMCSteering(SMCSteering.parse_params(params), context)
    proposals = smc.ask()
    assert [p.start for p in proposals] == [None] * 4
    expected_parents = [None, 1, 3]
    for step, (rewards, (weights, carried, products)) in enumerate(zip(REWARDS, HAND[potential])):
        ids = [p.id for p in proposals]
        tell(smc, proposals, rewards)
        assert smc.log_weights == pytest.approx(weights), step
        assert smc.carried == pytest.approx(carried) and smc.log_products == pytest.approx(products), step
        slot = expected_parents[step]
        assert smc.particles == (ids if slot is None else [ids[slot]] * 4), step
        proposals = smc.ask()
        assert [p.start for p in proposals] == smc.particles and all(p.stochastic for p in proposals)
        assert [p.stop for p in proposals] == [context.sigmas[step + 2]] * 4
    assert smc.resampled_at == [2, 3]
    before = list(smc.log_weights)
    tell(smc, proposals, [5.0, 6.0, 7.0, 8.0])  # finished: every final particle is returned, none resampled
    assert smc.ask() == [] and smc.log_weights == before


def test_smc_resamples_only_at_fks_scheduled_levels(context):
    """FK's schedule: every ``resample_every`` levels from ``resample_from``, and the last interior level; at
    the levels between, the particles go on as they are and r~ is not updated; the last level is resampled only
    when its ESS is below ess * k (fkd_class.py)."""
    smc = SMCSteering(SMCSteering.parse_params({"k": 4, "resample_every": 2, "scale": "none", "lam": 1.0}), context)
    assert sorted(smc.schedule) == [1, 3]
    first = smc.ask()
    tell(smc, first, [0.1, 0.2, 0.3, 0.4])  # level 1: scheduled, resampled (not adaptive: always)
    assert smc.resampled_at == [1] and smc.log_weights == pytest.approx([0.1, 0.2, 0.3, 0.4])
    carried, weights = list(smc.carried), list(smc.log_weights)
    second = smc.ask()
    tell(smc, second, [9.0, 9.0, 9.0, 9.0])  # level 2: not scheduled
    assert smc.particles == [p.id for p in second] and smc.carried == carried and smc.log_weights == weights
    third = smc.ask()
    tell(smc, third, [0.5, 0.6, 0.7, 0.8])  # level 3, the last interior one: ESS near 4, every particle goes on
    assert smc.resampled_at == [1] and smc.particles == [p.id for p in third]
    assert [(e["level"], e["resampled"]) for e in smc.trace()["levels"]] == [(1, True), (3, False)]
    assert smc.trace()["levels"][1]["ess"] > 3.9 and smc.trace()["levels"][1]["survivors"] == 4


@pytest.mark.parametrize("adaptive_end", [True, False])
def test_smc_last_level_is_resampled_only_below_the_ess_threshold_unless_asked(context, adaptive_end):
    args = {"k": 4, "scale": "none", "lam": 1.0, "adaptive": True, "adaptive_end": adaptive_end}
    smc = SMCSteering(SMCSteering.parse_params(args), context)
    for rewards in ([0.0] * 4, [0.0] * 4, [0.0, 0.01, 0.02, 0.03]):  # uniform, then near-uniform at the last level
        proposals = smc.ask()
        tell(smc, proposals, rewards)
    assert smc.resampled_at == ([] if adaptive_end else [3])
    assert smc.particles == [p.id for p in proposals] or not adaptive_end
    collapsed = SMCSteering(SMCSteering.parse_params(args), context)
    for rewards in ([0.0] * 4, [0.0] * 4, [0.0, 0.0, 0.0, 50.0]):  # ESS 1 at the last level: resampled either way
        proposals = collapsed.ask()
        tell(collapsed, proposals, rewards)
    assert collapsed.resampled_at == [3] and collapsed.particles == [proposals[3].id] * 4
    assert collapsed.trace()["levels"][-1] == {"level": 3, "ess": 1.0, "resampled": True, "survivors": 1}


def test_smc_standardized_rewards_make_lam_independent_of_the_verifiers_scale(context):
    one, hundred = (SMCSteering(SMCSteering.parse_params({"k": 4}), context) for _ in range(2))
    tell(one, one.ask(), [0.1, 0.2, 0.3, 0.4])
    tell(hundred, hundred.ask(), [10.0, 20.0, 30.0, 40.0])
    spread = statistics.pstdev([0.1, 0.2, 0.3, 0.4])
    assert one.lam == 2.0 and one.log_weights == pytest.approx([2 * r / spread for r in (0.1, 0.2, 0.3, 0.4)])
    assert hundred.log_weights == pytest.approx(one.log_weights) and one.particles == hundred.particles
    assert set(hundred.carried) <= {10.0, 20.0, 30.0, 40.0}  # r~ stays in the verifier's units


def test_smc_standardized_trace_carries_rewards_in_one_unit_across_levels(context):
    """Three scheduled levels with ``standardize``: r and r~ compare in the verifier's units, only the exponent is
    divided by the level's spread, so a particle that beats its ancestry's reward later is still favoured (the
    z-scores carried before made every later weight equal)."""
    smc = SMCSteering(SMCSteering.parse_params({"k": 4, "lam": 10.0}), context)
    levels = ([0.0, 0.0, 0.0, 10.0], [2.0, 30.0, 4.0, 8.0], [31.0, 29.0, 30.0, 40.0])
    products = 0.0
    carried = [0.0] * 4
    for step, rewards in enumerate(levels):
        proposals = smc.ask()
        tell(smc, proposals, rewards)
        lam = 10.0 / statistics.pstdev(rewards)
        tilde = [max(r, c) for r, c in zip(rewards, carried)]
        expected = [lam * t - (products if step == 2 else 0.0) for t in tilde]
        assert smc.log_weights == pytest.approx(expected), step
        best = max(range(4), key=lambda i: expected[i])  # every weight but one is below e^-17 of it
        assert smc.particles == [proposals[best].id] * 4 and smc.carried == [tilde[best]] * 4, step
        products += expected[best]
        carried = [tilde[best]] * 4
    assert smc.resampled_at == [1, 2, 3] and [e["survivors"] for e in smc.trace()["levels"]] == [1, 1, 1]


def test_smc_rt_potential_is_the_reward_alone_with_the_terminal_correction(context):
    smc = SMCSteering(SMCSteering.parse_params({"k": 2, "potential": "rt", "scale": "none", "lam": 1.0,
                                                "adaptive": True, "reward_min": 100.0}), context)
    for step, rewards in enumerate(([1.0, 1.0], [2.0, 2.0], [3.0, 5.0])):
        tell(smc, smc.ask(), rewards)
        if step < 2:
            assert smc.log_weights == rewards and smc.carried == rewards  # reward_min plays no part
    assert smc.log_weights == [3.0, 5.0]  # nothing resampled before: the product of potentials is 1


def test_smc_resample_from_0_weighs_the_initial_noises_then_steps_ancestrally(context):
    params = SMCSteering.parse_params({"k": 2, "resample_from": 0, "scale": "none", "adaptive": True})
    smc = SMCSteering(params, context)
    assert sorted(smc.schedule) == [0, 1, 2, 3]
    first = smc.ask()
    assert [(p.start, p.stop, p.scored) for p in first] == [(None, context.sigmas[0], True)] * 2
    tell(smc, first, [0.0, 0.0])
    second = smc.ask()
    assert [p.start for p in second] == [0, 1] and all(p.stochastic for p in second)
    assert second[0].stop == context.sigmas[1]
    one_call = context.cost(None, stop=context.sigmas[0])
    assert one_call == 1 and SMCSteering.particle_nfe(context, params) == 4  # one call at each level above 0
    results, _ = run(SMCSteering, {"k": 3, "resample_from": 0})
    assert all(result.nfe == 3 * 4 for result in results)


def test_zero_order_trace(context):
    zo = ZeroOrder(ZeroOrder.parse_params({"n": 2, "lam": 0.6}), context)
    seed = [context.fresh_noise(i).seeds[0] for i in range(9)]
    first = zo.ask()
    assert [p.id for p in first] == [0, 1, 2] and [p.parents for p in first] == [(), (0,), (0,)]
    assert first[1].noise.seeds == (seed[0], seed[1]) and first[1].noise.weights == pytest.approx((0.8, 0.6))
    tell(zo, first, [0.5, 0.7, 0.6])  # neighbour 1 beats the pivot: it becomes the pivot
    second = zo.ask()
    assert [p.id for p in second] == [3, 4] and [p.parents for p in second] == [(1,), (1,)]
    assert second[0].noise.seeds == (seed[0], seed[1], seed[3])
    assert second[0].noise.weights == pytest.approx((0.64, 0.48, 0.6))
    tell(zo, second, [0.6, 0.7])  # a tie with the pivot is no improvement: restart from a fresh noise
    third = zo.ask()
    assert [p.id for p in third] == [5, 6, 7] and third[0].noise.seeds == (seed[5],)
    assert third[1].noise.seeds == (seed[5], seed[6]) and third[1].parents == (5,)


def test_evolution_trace(context):
    evo = Evolution(Evolution.parse_params({"population": 4, "elites": 2, "spread": 1.0, "decay": 0.5}), context)
    seed = [context.derive_seed(i) for i in range(12)]
    first = evo.ask()
    assert [p.noise.seeds for p in first] == [(s,) for s in seed[:4]]
    tell(evo, first, [0.1, 0.9, 0.5, 0.9])  # elites: ids 1 and 3 (a tie goes to the lower id, then 3 beats 2)
    assert evo.mean.seeds == (seed[1], seed[3]) and evo.mean.weights == pytest.approx((0.5, 0.5))
    second = evo.ask()
    norm = math.sqrt(0.25 + 0.25 + 1.0)  # mean + 1.0 * fresh, scaled back to unit variance
    assert second[0].noise.seeds == (seed[1], seed[3], seed[4])
    assert second[0].noise.weights == pytest.approx((0.5 / norm, 0.5 / norm, 1.0 / norm))
    tell(evo, second, [0.3, 0.2, 0.8, 0.1])  # elites: ids 6 and 4
    third = evo.ask()
    w6, w4 = [p.noise for p in second if p.id == 6][0], [p.noise for p in second if p.id == 4][0]
    mean = {s: 0.5 * w for s, w in zip(w4.seeds, w4.weights)}
    for s, w in zip(w6.seeds, w6.weights):
        mean[s] = mean.get(s, 0.0) + 0.5 * w
    spread = 0.5  # the second generation after the first shrinks once
    variance = sum(w * w for w in mean.values()) + spread**2
    expected = {s: w / math.sqrt(variance) for s, w in mean.items()} | {seed[8]: spread / math.sqrt(variance)}
    assert dict(zip(third[0].noise.seeds, third[0].noise.weights)) == pytest.approx(expected)


def test_paths_trace(context):
    paths = SearchOverPaths(SearchOverPaths.parse_params({"n": 2, "m": 2, "t": 0.4, "df": 0.3, "db": 0.5}), context)
    # rounds in flow time: from 0.4 re-noise to 0.7, solve to 0.2; from 0.2 re-noise to 0.5, solve to 0
    assert SearchOverPaths.plan(paths.params) == [(pytest.approx(0.7), pytest.approx(0.2)),
                                                  (pytest.approx(0.5), 0.0)]
    first = paths.ask()
    assert [p.stop for p in first] == [pytest.approx(0.4 / 0.6)] * 2 and [p.start for p in first] == [None, None]
    tell(paths, first, [0.3, 0.8])
    second = paths.ask()  # the better path first, m = 2 branches each
    assert [p.start for p in second] == [1, 1, 0, 0] and [p.parents for p in second] == [(1,), (1,), (0,), (0,)]
    assert [p.renoise_to for p in second] == [pytest.approx(0.7 / 0.3)] * 4
    assert [p.stop for p in second] == [pytest.approx(0.25)] * 4
    tell(paths, second, [0.1, 0.4, 0.9, 0.2])  # keep ids 4 and 3
    third = paths.ask()
    assert [p.start for p in third] == [4, 4, 3, 3] and [p.stop for p in third] == [0.0] * 4
    assert [p.renoise_to for p in third] == [pytest.approx(sigma_of_time(0.5))] * 4
    tell(paths, third, [0.5, 0.6, 0.7, 0.8])
    assert paths.ask() == []


def test_beam_trace_branches_at_every_noisy_level_and_finishes_each_state_once(context):
    beam = BeamSearch(BeamSearch.parse_params({"width": 2, "branch": 2, "levels": [2]}), context)
    sigmas = context.sigmas
    first = beam.ask()  # width x branch fresh noises solved to level 2
    assert [p.id for p in first] == [0, 1, 2, 3] and [p.stop for p in first] == [sigmas[2]] * 4
    assert all(p.start is None and not p.stochastic for p in first)
    tell(beam, first, [0.1, 0.9, 0.5, 0.2])  # the beam: ids 1 and 2
    last = beam.ask()  # an ancestral step to level 0 injects no noise: one child per state, not `branch` copies
    assert [(p.id, p.start, p.parents, p.stop, p.stochastic) for p in last] == [
        (4, 1, (1,), 0.0, True), (5, 2, (2,), 0.0, True)]
    tell(beam, last, [0.7, 0.3])
    assert beam.ask() == []
    expected = 4 * context.cost(None, stop=sigmas[2]) + 2 * context.cost(sigmas[2], 0.0, stochastic=True)
    assert BeamSearch.total_nfe(beam.params, context) == expected


def test_beam_branches_with_distinct_noises_before_the_last_level(context):
    beam = BeamSearch(BeamSearch.parse_params({"width": 2, "branch": 3, "levels": [1, 2]}), context)
    first = beam.ask()
    tell(beam, first, [float(i) for i in range(6)])  # the beam: ids 5 and 4
    middle = beam.ask()
    assert [p.start for p in middle] == [5, 5, 5, 4, 4, 4] and all(p.stochastic for p in middle)
    assert len({p.noise.seeds for p in middle}) == 6 and [p.stop for p in middle] == [context.sigmas[2]] * 6


def test_beam_never_branches_into_the_last_interior_level(context):
    """The step into the last interior level injects almost no noise: by default no branch ends there, and asking
    for it is refused in one line (4 steps: levels 1 and 2 of interior levels 1-3)."""
    from noisesearch.errors import UsageError

    beam = BeamSearch(BeamSearch.parse_params({}), context)
    assert beam.levels == [context.sigmas[1], context.sigmas[2], 0.0]
    with pytest.raises(UsageError, match="last interior level is left out"):
        BeamSearch(BeamSearch.parse_params({"levels": [1, 3]}), context)


def test_halving_trace_prunes_at_every_rung_and_journals_root_noises(context):
    """8 noises previewed at level 1, the best 4 continued to level 2, the best 2 finished: each rung keeps
    1/eta of the last (a halving that pruned nothing fails here), and a continuation carries its root's noise."""
    sigmas = context.sigmas
    halving = Halving(Halving.parse_params({"n": 8, "eta": 2, "rungs": [1, 2]}), context)
    first = halving.ask()
    assert [p.id for p in first] == list(range(8)) and {p.stop for p in first} == {sigmas[1]}
    tell(halving, first, [0.1, 0.8, 0.3, 0.9, 0.2, 0.7, 0.4, 0.6])  # the best 4: ids 3, 1, 5, 7
    second = halving.ask()
    assert [(p.id, p.start, p.stop) for p in second] == [(8, 3, sigmas[2]), (9, 1, sigmas[2]), (10, 5, sigmas[2]),
                                                        (11, 7, sigmas[2])]
    assert [p.noise for p in second] == [context.fresh_noise(i) for i in (3, 1, 5, 7)]
    tell(halving, second, [0.2, 0.9, 0.1, 0.5])  # the best 2: ids 9 (root 1) and 11 (root 7)
    last = halving.ask()
    assert [(p.id, p.start, p.stop) for p in last] == [(12, 9, 0.0), (13, 11, 0.0)]
    assert [p.noise for p in last] == [context.fresh_noise(1), context.fresh_noise(7)]
    tell(halving, last, [0.3, 0.4])
    assert halving.ask() == []
    expected = (8 * context.cost(None, stop=sigmas[1]) + 4 * context.cost(sigmas[1], sigmas[2])
                + 2 * context.cost(sigmas[2], 0.0))
    assert Halving.total_nfe(halving.params, context, 8) == expected


def test_smc_decodes_and_scores_previews_only_at_the_levels_it_weighs():
    """Levels off FK's schedule are not decoded or scored (issue #26: decoding follows the resampling schedule);
    SMC does not read their scores, so its result is the same as when every level is scored."""
    from noisesearch.testing.toys import ToyVerifier

    class Counting(ToyVerifier):
        def __init__(self):
            super().__init__()
            self.images = 0

        def score(self, images, conditions):
            self.images += len(images)
            return super().score(images, conditions)

    class EveryLevel(SMCSteering):
        def ask(self):
            return [dataclasses.replace(p, scored=True) for p in super().ask()]

    args = {"k": 3, "resample_every": 2}  # 4 steps: weighs levels 1 and 3, not 2
    lean, full = Counting(), Counting()
    results = [run(algorithm, args, budget_nfe=7 * 16, verifier=verifier)[0]
               for algorithm, verifier in ((SMCSteering, lean), (EveryLevel, full))]
    assert [(r.candidate, r.scores) for r in results[0]] == [(r.candidate, r.scores) for r in results[1]]
    searches = len(results[0])
    assert full.images == searches * 3 * 4 and lean.images == searches * 3 * 3  # k particles at 3 of 4 levels
