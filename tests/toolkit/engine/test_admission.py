"""A loop that admits searches while it runs: a search admitted alone, first, or mid-run of others gives the same
candidates, scores and image bytes, and a cancelled search ends after its round, unchosen."""

import threading

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.engine import Admissions, Cohort, Executor, SearchSettings, SearchSource, Task
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms import (BeamSearch, Halving, RandomSearch, SearchOverPaths, SMCSteering,
                                            ZeroOrder)

TARGET = Task(0, Condition(class_label=2), 0)
OTHERS = [Task(i + 1, Condition(class_label=c), r) for i, (c, r) in enumerate([(0, 0), (1, 0), (3, 1), (3, 0)])]
CASES = [(RandomSearch, {}), (ZeroOrder, {"n": 2}), (SMCSteering, {"k": 4}), (Halving, {}),
         (BeamSearch, {"width": 2, "branch": 2}), (SearchOverPaths, {"n": 2, "m": 2})]


class AfterRounds(SearchSource):
    """Gives ``first`` at once and ``then`` when the loop asks the ``at``-th time (after ``at`` - 1 rounds)."""

    def __init__(self, first: Cohort, then: Cohort, at: int):
        self.plan, self.asked = {1: [first]}, 0
        self.plan.setdefault(at, []).append(then)

    def take(self, idle):
        self.asked += 1
        return self.plan.pop(self.asked, [])

    @property
    def closed(self):
        return not self.plan


def executor(algorithm, args, batch_size=3):
    settings = SearchSettings(algorithm, algorithm.parse_params(args), 7 * 20, 4, "heun", 1.0, batch_size, 8, 8, 0)
    return Executor(ToyMixture(), [ToyVerifier()], settings)


def outcome(result):
    return result.candidate, result.nfe, result.candidates, result.scores, result.image.numpy().tobytes()


@pytest.mark.parametrize("algorithm, args", CASES, ids=[case[0].name for case in CASES])
def test_a_search_gives_the_same_result_alone_first_and_admitted_mid_run(algorithm, args):
    alone = executor(algorithm, args).run([TARGET])
    first = executor(algorithm, args).run([TARGET, *OTHERS])
    results = []
    for at in (1, 2):  # beside the others (its own cohort, so its own encodings), or after a round of theirs
        joined, others = Cohort([TARGET]), Cohort(OTHERS)
        with torch.no_grad():
            executor(algorithm, args).drive(AfterRounds(others, joined, at=at))
        assert len(others.results) == len(OTHERS) and len(joined.results) == 1
        results.append(joined.results[0])
    assert outcome(first[0]) == outcome(alone[0]) == outcome(results[0]) == outcome(results[1])


def test_searches_added_from_another_thread_join_the_running_loop_and_share_its_chunks():
    admissions, loop = Admissions(), executor(RandomSearch, {}, batch_size=8)
    chunks = []
    loop.observe(lambda progress, searches: chunks.append(len(searches)))
    first, second = Cohort(OTHERS[:2], on_result=lambda result: None), Cohort([TARGET])
    admissions.add(first)
    worker = threading.Thread(target=loop.drive, args=(admissions,))
    worker.start()
    admissions.add(second)
    admissions.close()
    worker.join(60)
    assert not worker.is_alive()
    assert len(first.results) == 2 and outcome(second.results[0]) == outcome(executor(RandomSearch, {}).run([TARGET])[0])
    assert max(chunks) == 3  # the searches of both cohorts ran side by side


def test_a_cancelled_search_ends_after_its_round_unchosen_and_the_others_finish():
    admissions, loop = Admissions(), executor(ZeroOrder, {"n": 2})
    kept, dropped = Cohort(OTHERS[:1]), Cohort([TARGET])
    rounds = []

    def cancel_after_first_round(progress, searches):
        rounds.append(progress.integrated)
        if len(rounds) == 1:
            admissions.cancel(dropped)

    loop.observers.append(lambda progress, searches: None)
    loop.stoppers.append(type("Watch", (), {"admit": lambda self, cohort: None,
                                             "check": lambda self, searches: cancel_after_first_round(
                                                 loop.progress, searches)})())
    admissions.add(kept)
    admissions.add(dropped)
    admissions.close()
    with torch.no_grad():
        loop.drive(admissions)
    assert len(kept.results) == 1 and not dropped.results
    assert dropped.searches[0].nfe < kept.searches[0].nfe  # it stopped after its first round


@pytest.mark.parametrize("world, algorithm", [("digits", "halving"), ("shapes", "random")])
def test_padded_chunks_make_a_real_networks_result_independent_of_its_chunk(world, algorithm):
    """The worlds' CPU kernels round differently per batch size, so a search shares no result with itself batched
    otherwise (``test_clock``); with ``model.pad_chunks`` every call (denoiser, decoding, verifiers) has the batch
    size, and the same search alone or beside others gives the same bytes (what a server's jobs rely on)."""
    import noisesearch

    settings = dict(pipeline=world, budget_nfe=56 if world == "digits" else 120, batch_size=5, pad_chunks=True,
                    algorithm=algorithm)
    if world == "digits":
        alone, beside = noisesearch.search(classes=[3], **settings)[0], noisesearch.search(classes=[1, 3, 7], **settings)[1]
    else:
        prompts = ["two blue squares", "a red circle", "a green triangle"]
        alone = noisesearch.search(prompts=prompts[1:2], **settings)[0]
        beside = noisesearch.search(prompts=prompts, **settings)[1]
    assert outcome(alone) == outcome(beside)
