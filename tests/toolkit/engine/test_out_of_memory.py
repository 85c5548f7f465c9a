"""Out of device memory: the executor halves the batch until it fits, with unchanged results and NFEs charged once;
a single candidate that does not fit is one line naming the settings to change."""

import json

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.engine import Executor, SearchSettings, Task
from noisesearch.engine.chunks import OutOfDeviceMemory
from noisesearch.store.journal import Journal
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms.smc import SMCSteering as SMC
from noisesearch_plugins.algorithms.random_search import RandomSearch
from noisesearch_plugins.algorithms.zero_order import ZeroOrder


class TightPipeline(ToyMixture):
    """The toy model on a device that holds at most ``rows`` candidates per denoiser call (the real exception)."""

    def __init__(self, rows: int):
        super().__init__()
        self.rows = rows
        self.calls = 0

    def denoise(self, x, sigma, means):
        self.calls += 1
        if x.shape[0] > self.rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0]} rows")
        return super().denoise(x, sigma, means)


class TightVerifier(ToyVerifier):
    """A verifier whose device holds at most ``rows`` images (the RuntimeError MPS raises)."""

    def __init__(self, rows: int):
        super().__init__()
        self.rows = rows

    def score(self, images, conditions):
        if images.shape[0] > self.rows:
            raise RuntimeError("MPS backend out of memory (MPS allocated: 7.9 GB)")
        return super().score(images, conditions)


TASKS = [Task(i, Condition(class_label=c), r) for i, (c, r) in enumerate([(0, 0), (1, 0), (1, 1)])]


def search(algorithm, params, batch_size, pipeline, verifier, journal=None, budget=7 * 12):
    settings = SearchSettings(algorithm, params, budget, 4, "heun", 1.0, batch_size, 8, 8, 0)
    executor = Executor(pipeline, [verifier], settings, journal=journal)
    with torch.no_grad():
        results = executor.run(TASKS)
    return [(r.candidate, r.score, r.nfe, r.candidates, r.image.tolist()) for r in results], executor


@pytest.mark.parametrize("algorithm, params", [(ZeroOrder, ZeroOrder.Params(n=4)), (SMC, SMC.Params(k=6))])
def test_a_batch_that_does_not_fit_is_halved_with_unchanged_results(algorithm, params, tmp_path, caplog):
    fits, plain = search(algorithm, params, 8, ToyMixture(), ToyVerifier())
    journal = Journal(tmp_path / "rank0.jsonl")
    backed, executor = search(algorithm, params, 64, TightPipeline(rows=8), TightVerifier(rows=5), journal)
    journal.close()
    assert backed == fits
    assert executor.stats.nfe == plain.stats.nfe, "a failed attempt was charged"
    assert 1 <= executor.stats.batch_size <= 5  # each halving halves the chunk that failed, until both fit
    records = [json.loads(line) for line in (tmp_path / "rank0.jsonl").read_text().splitlines()]
    keys = [(r["search"], r["repeat"], r["id"]) for r in records]
    assert len(keys) == len(set(keys)) == sum(r[3] for r in fits), "a candidate was journaled twice or lost"
    assert sum(r["nfe"] for r in records) == plain.stats.nfe
    warnings = [r for r in caplog.records if "out of device memory" in r.getMessage()]
    assert len(warnings) == 1, "the back-off is logged once"


def test_auto_measures_chunk_sizes_on_real_work_and_keeps_the_fastest_that_fits():
    """``batch_size auto``: an untimed warm-up chunk, then 4, 8, 16... candidates a chunk, each measured once on the
    round's own candidates; the size that ran out of memory ends the trials; the fastest measured is kept. Results
    are those of a fixed batch size."""
    fixed, _ = search(RandomSearch, RandomSearch.Params(n=24), 8, ToyMixture(), ToyVerifier(), budget=7 * 24)
    tuned, executor = search(RandomSearch, RandomSearch.Params(n=24), None, TightPipeline(rows=20), ToyVerifier(),
                             budget=7 * 24)  # 72 candidates: warm-up 4, then 4, 8, 16, and 32 runs out of memory
    assert tuned == fixed
    report = executor.stats.auto
    assert set(report["nfe_per_s"]) == {"4", "8", "16"} and all(rate > 0 for rate in report["nfe_per_s"].values())
    fastest = max(report["nfe_per_s"], key=lambda size: (report["nfe_per_s"][size], int(size)))
    assert report["chosen"] == int(fastest) == executor.stats.batch_size


def test_auto_batch_choice_worked_by_hand():
    from noisesearch.engine.batching import AutoBatch

    auto = AutoBatch((4, 8, 16))
    assert auto.size() == 4
    auto.record(4, 28, 10.0)  # the warm-up: not measured
    assert auto.rates == {} and auto.size() == 4
    auto.record(4, 28, 1.0)
    auto.record(3, 21, 0.1)  # the end of a group, smaller than its trial: measures nothing
    auto.record(8, 56, 1.0)
    assert auto.rates == {4: 28.0, 8: 56.0} and auto.size() == 16 and auto.tuning
    assert auto.report()["chosen"] == 8 and not auto.report()["settled"]  # a run ending here: the fastest so far
    auto.limit(16)  # out of memory at 16: the trials end, the fastest measured is kept
    assert auto.chosen == 8 and auto.report() == {"chosen": 8, "settled": True,
                                                  "nfe_per_s": {"4": 28.0, "8": 56.0}}
    nothing = AutoBatch((4, 8))
    nothing.limit(4)
    assert nothing.chosen == 2  # none measured and 4 does not fit: half of it, as the back-off would


def test_one_candidate_that_does_not_fit_names_the_settings_to_change():
    with pytest.raises(OutOfDeviceMemory) as refused:
        search(ZeroOrder, ZeroOrder.Params(n=4), 8, TightPipeline(rows=0), ToyVerifier())
    message = str(refused.value)
    assert "one candidate per batch" in message and "\n" not in message
    for setting in ("model.offload", "model.verifier_device", "model.dtype", "noisesearch resume"):
        assert setting in message


def test_other_errors_are_not_taken_for_memory():
    class Broken(ToyMixture):
        def denoise(self, x, sigma, means):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        search(ZeroOrder, ZeroOrder.Params(n=4), 8, Broken(), ToyVerifier())
