"""One worker's loop runs many jobs at once: each job's results are what the same search gives alone, bit for bit;
a cancelled job stops and keeps what finished; a job whose algorithm fails fails alone."""

import dataclasses
import time

import numpy as np
import pytest
from PIL import Image

from noisesearch import registry
from noisesearch.api import search
from noisesearch.run.settings import build
from noisesearch.serve.app import cancel_job
from noisesearch.serve.jobs import ENDED, JobStore
from noisesearch.serve.requests import Limits, Requests
from noisesearch.serve.worker import Worker
from noisesearch_plugins.algorithms.random_search import RandomSearch

DEFAULTS = {"pipeline": "digits", "batch_size": 8, "pad_chunks": True, "budget_nfe": 77}


class Explodes(RandomSearch):
    """A plugin's bug: its second round raises."""

    name = "explodes"

    def __init__(self, params, context):
        super().__init__(params, context)
        self.rounds = 0

    def ask(self):
        self.rounds += 1
        if self.rounds == 2:
            raise RuntimeError("the plugin's bug")
        return super().ask()[:2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = JobStore(tmp_path_factory.mktemp("jobs"))
    worker = Worker(store, DEFAULTS, jobs_per_worker=4, poll_s=0.05)
    worker.start()
    yield store, Requests(build(**DEFAULTS), DEFAULTS, Limits(verifiers=("digits-classifier",))), worker
    worker.stop()


def wait(store, jobs, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [store.get(job.id) for job in jobs]
        if all(job.state in ENDED for job in found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"jobs still running: {[job.state for job in found]}")


def alone(spec):
    """The job's searches run alone, through the Python face."""
    classes = [condition["class_label"] for condition in spec.conditions]
    return search(classes=classes, per_condition=spec.per_condition, seed=spec.seed, **spec.model)


def test_jobs_sharing_a_loop_get_what_each_gets_alone(served):
    store, requests, worker = served
    bodies = [{"classes": [3, 5], "n": 2, "seed": 1},
              {"classes": [7], "algorithm": "zero-order", "budget_nfe": 154},
              {"classes": [0], "algorithm": "smc", "budget_nfe": 112, "seed": 4},
              {"classes": [2], "algorithm": "halving", "budget_nfe": 140, "n": 2}]
    jobs = [store.create(requests.search(body), "me") for body in bodies]
    for job in wait(store, jobs):
        assert job.state == "done", job.error
        events, _ = store.events(job.id)
        kinds = [event["type"] for _, event in events]
        assert kinds.count("result") == job.spec.searches and kinds[-1] == "done"
        done = events[-1][1]
        reference = alone(job.spec)
        assert [record["score"] for record in done["results"]] == [result.score for result in reference]
        assert [record["candidate"] for record in done["results"]] == [result.candidate for result in reference]
        for record, result in zip(done["results"], reference):
            assert np.array_equal(np.array(Image.open(store.folder(job.id) / record["image"])), np.array(result.pil))
        assert (store.folder(job.id) / "report.html").exists()
        assert "pad_chunks: true" in (store.folder(job.id) / "config.yaml").read_text()
        progress = store.progress(job.id)
        assert progress["nfe"] <= progress["budget_nfe"] and progress["searches"] == job.spec.searches


def test_a_cancelled_job_ends_after_its_round_and_keeps_its_journal(served):
    store, requests, worker = served
    job = store.create(requests.search({"classes": [1, 2, 4], "n": 2, "algorithm": "zero-order",
                                        "budget_nfe": 700}), "me")
    deadline = time.monotonic() + 120
    while not store.progress(job.id).get("nfe") and time.monotonic() < deadline:
        time.sleep(0.02)
    cancel_job(store, store.get(job.id))
    ended, = wait(store, [job])
    assert ended.state == "cancelled"
    assert store.progress(job.id)["nfe"] < 6 * 700
    assert (store.folder(job.id) / "journal" / "rank0.jsonl").stat().st_size > 0
    after = store.create(requests.search({"classes": [6]}), "me")  # the worker goes on
    assert wait(store, [after])[0].state == "done"


def test_a_job_whose_algorithm_fails_fails_alone(served):
    store, requests, worker = served
    index = registry.index()["algorithms"]
    index["explodes"] = registry.Entry("algorithms", "explodes", Explodes, "tests", "(in-process)")
    try:
        failing = store.create(requests.search({"classes": [8], "algorithm": "explodes"}), "me")
        innocent = store.create(requests.search({"classes": [9], "n": 2, "algorithm": "zero-order",
                                                 "budget_nfe": 154}), "me")
        failed, done = wait(store, [failing, innocent])
    finally:
        del index["explodes"]
    assert failed.state == "failed" and "the plugin's bug" in failed.error and failed.attempts == 2
    assert done.state == "done"
    events, _ = store.events(innocent.id)
    assert [record["score"] for record in events[-1][1]["results"]] == [r.score for r in alone(innocent.spec)]
    assert worker.counters["loop_failures"] >= 2


def test_a_job_the_loop_cannot_take_fails_in_one_line_and_the_worker_goes_on(served):
    store, requests, worker = served
    spec = requests.search({"classes": [5]})
    broken = store.create(dataclasses.replace(spec, model={**spec.model, "steps": 9}), "me")  # not the loop's
    after = store.create(spec, "me")
    failed, done = wait(store, [broken, after])
    assert failed.state == "failed" and "steps" in failed.error and "\n" not in failed.error
    assert [event["type"] for _, event in store.events(broken.id)[0]] == ["failed"]
    assert done.state == "done"
