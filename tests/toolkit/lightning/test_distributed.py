"""Lightning DDP on CPU (2 processes, gloo): split by candidates, or by conditions and killed and resumed, results
equal one device's."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

from helpers import BIN, ROOT, run_cli

pytestmark = pytest.mark.slow  # DDP over processes

DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
JOBS = {
    "conditions": ["--data.classes", "0-4", "--data.per_condition", "2", "--data.batch_size", "2",
                   "--model.algorithm", "random", "--model.budget_nfe", "56"],
    "candidates": ["--data.classes", "3,8", "--model.algorithm", "zero-order", "--model.algorithm_args", "{n: 3}",
                   "--model.budget_nfe", "112", "--model.shard", "candidates", "--model.batch_size", "4"],
}


def comparable(out):
    summary = json.loads((out / "summary.json").read_text())
    rows = [(r["index"], r["candidate"], round(r["score"], 5), r["nfe"], r["candidates"]) for r in summary["results"]]
    return rows, summary["nfe_used"]


def journaled(out):
    keys = []
    for path in (out / "journal").glob("rank*.jsonl"):
        keys += [(r["search"], r["repeat"], r["id"]) for r in map(json.loads, path.read_text().splitlines())
                 if r["type"] == "candidate"]
    return keys


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One device's run of a job, made once per module: the results every multi-process run must give."""
    runs = {}

    def run(mode):
        if mode not in runs:  # in this process: the reference needs no interpreter of its own
            from noisesearch.cli import main

            out = tmp_path_factory.mktemp(f"one-{mode}")
            assert main(["predict", *JOBS[mode], "--quiet", "true", "--out", str(out)]) == 0
            runs[mode] = out
        return runs[mode]

    return run


def shared_like(out, one):
    """Both ranks evaluated and journaled their own share, nothing twice, nothing lost, all of it in the report."""
    per_rank = {p.name: sum('"type": "candidate"' in line for line in p.read_text().splitlines())
                for p in (out / "journal").glob("rank*.jsonl")}
    assert set(per_rank) == {"rank0.jsonl", "rank1.jsonl"} and min(per_rank.values()) > 0, \
        f"both ranks must evaluate and journal their own share: {per_rank}"
    keys = journaled(out)
    assert len(keys) == len(set(keys)) == len(journaled(one)), "work was duplicated or lost"
    report = (out / "report.html").read_text()
    assert f'data-candidates="{len(keys)}"' in report, "the report misses a rank's candidates"


def test_two_processes_split_candidates_and_give_one_device_results(single, tmp_path):
    # split by conditions: the killed run below, which must also end with one device's results
    one = single("candidates")
    double = run_cli("predict", *JOBS["candidates"], *DDP, "--out", str(tmp_path / "two"))
    assert double.returncode == 0, double.stderr[-2000:]
    assert comparable(one) == comparable(tmp_path / "two")
    shared_like(tmp_path / "two", one)


def test_killed_ddp_run_resumes_on_two_devices(single, tmp_path):
    reference = single("conditions")
    # resuming on one process after a lost node is tested in test_multinode.py; here the DDP run resumes on two
    for resume_devices in (["--trainer.devices", "2", "--trainer.strategy", "ddp"],):
        out = tmp_path / f"run{len(resume_devices)}"
        process = subprocess.Popen([str(BIN / "noisesearch"), "predict", *JOBS["conditions"], *DDP, "--out", str(out)],
                                   cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            lines = sum(p.read_text().count("\n") for p in (out / "journal").glob("rank*.jsonl")) if (
                out / "journal").exists() else 0
            if lines >= 12:
                break
            time.sleep(0.05)
        time.sleep(random.Random(1).uniform(0, 0.3))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert not (out / "summary.json").exists(), "the run finished before it could be killed"
        done = run_cli("resume", str(out), "--trainer.accelerator", "cpu", *resume_devices)
        assert done.returncode == 0, done.stderr[-2000:]
        assert comparable(out) == comparable(reference)
        shared_like(out, reference)


def test_ranks_sharing_searches_stop_on_the_clock_together(tmp_path):
    # shard candidates under model.budget_seconds: a rank whose clock is spent while the other's is not would leave
    # it waiting for a round that never comes; they stop when either has spent it, and agree on the NFEs reached
    out = tmp_path / "clock"
    done = run_cli("predict", "--data.classes", "3,8", "--model.algorithm", "random", "--model.budget_seconds", "1.5",
                   "--model.shard", "candidates", "--model.batch_size", "4", *DDP, "--out", str(out), timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nfe_used"] == sum(r["nfe"] for r in summary["results"]) and summary["nfe_reached"][0] >= 14
    assert len(journaled(out)) == len(set(journaled(out))) == sum(r["candidates"] for r in summary["results"])
