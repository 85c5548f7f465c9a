"""Durable runs: SIGTERM or SIGKILL at random moments and `noisesearch resume` give the uninterrupted run's results."""

import json
import os
import random
import resource
import signal
import subprocess
import time

import pytest

from helpers import BIN, ROOT, run_cli

pytestmark = pytest.mark.slow  # runs killed and resumed, in processes

JOB = ["--data.classes", "0-5", "--data.batch_size", "2", "--model.algorithm", "zero-order",
       "--model.algorithm_args", "{n: 2}", "--model.budget_nfe", "112", "--model.batch_size", "4"]


def candidate_records(out):
    records = []
    for path in sorted((out / "journal").glob("rank*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["type"] == "candidate"]


def comparable(out):
    summary = json.loads((out / "summary.json").read_text())
    rows = [(r["index"], r["candidate"], round(r["score"], 5), r["nfe"], r["candidates"]) for r in summary["results"]]
    return rows, summary["nfe_used"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    done = run_cli("predict", *JOB, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def start(args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([str(BIN / "noisesearch"), *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def kill_after_progress(process, journal, rng, how=signal.SIGKILL):
    """Send ``how`` once the journal has grown a random amount (or the process ends first); its exit code."""
    target = rng.randint(1, 40)
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:
        lines = journal.read_text().count("\n") if journal.exists() else 0
        if lines >= target:
            time.sleep(rng.uniform(0, 0.5))
            process.send_signal(how)
            break
        time.sleep(0.05)
    return process.wait(timeout=120)


def test_sigkill_and_resume_match_the_uninterrupted_run(reference, tmp_path):
    rng = random.Random(7)
    out = tmp_path / "run"
    first = start(["predict", *JOB, "--out", str(out)])  # stopped politely (a scheduler's SIGTERM), then killed
    code = kill_after_progress(first, out / "journal" / "rank0.jsonl", rng, how=signal.SIGTERM)
    last = first.stderr.read().strip().splitlines()[-1]  # a stop within 40 journal lines is never the run's end
    assert code == 143 and "stopped on SIGTERM" in last and f"noisesearch resume {out}" in last, (code, last)
    assert not (out / "summary.json").exists()
    interrupted = 1
    kills = 1
    while not (out / "summary.json").exists() and kills < 6:
        process = start(["resume", str(out)])
        if kills < 3:
            kill_after_progress(process, out / "journal" / "rank0.jsonl", rng)
            interrupted += int(not (out / "summary.json").exists())
        else:
            assert process.wait() == 0, process.stderr.read()[-2000:]
        kills += 1
    assert interrupted >= 2, "the kills did not interrupt the run"
    assert (out / "summary.json").exists()
    assert comparable(out) == comparable(reference)
    keys = [(r["search"], r["repeat"], r["id"]) for r in candidate_records(out)]
    assert len(keys) == len(set(keys)), "a candidate journaled before a kill was evaluated again"
    assert len(keys) == len(candidate_records(reference))


def test_torn_last_record_is_recovered(reference, in_process, tmp_path):
    out = tmp_path / "torn"
    code = kill_after_progress(start(["predict", *JOB, "--out", str(out)]), out / "journal" / "rank0.jsonl",
                               random.Random(3))
    assert code == -signal.SIGKILL and not (out / "summary.json").exists(), "the run finished before the kill"
    journal = out / "journal" / "rank0.jsonl"
    with open(journal, "a") as file:
        file.write('{"type": "candidate", "search": "class:0", "rep')
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(json.loads(line) for line in journal.read_text().splitlines())
    assert comparable(out) == comparable(reference)


def test_full_disk_is_a_clean_error_and_the_journal_stays_consistent(reference, in_process, tmp_path):
    out = tmp_path / "full"

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    process = start(["predict", *JOB, "--out", str(out)], preexec_fn=limit_file_size)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr[-2000:]
    assert "no space left" in stderr and "Traceback" not in stderr
    lines = (out / "journal" / "rank0.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines)
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert comparable(out) == comparable(reference)


def test_resume_of_a_folder_that_is_no_run(in_process, tmp_path):
    done = in_process("resume", str(tmp_path))
    assert done.returncode == 2 and "is no noisesearch run" in done.stderr and "Traceback" not in done.stderr


def test_resume_refuses_changed_settings(reference, in_process, tmp_path):
    out = tmp_path / "changed"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    config = (out / "config.yaml").read_text().replace("budget_nfe: 112", "budget_nfe: 224")
    (out / "config.yaml").write_text(config)
    done = in_process("resume", str(out))
    assert done.returncode == 2 and "budget_nfe 112 -> 224" in done.stderr and "Traceback" not in done.stderr


def test_resume_refuses_a_journal_the_code_would_not_produce(reference, in_process, tmp_path):
    out = tmp_path / "tampered"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    journal = out / "journal" / "rank0.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    records = [r for r in records if r["type"] == "candidate"]  # forget the finished results
    records[0]["noise"]["weights"] = [0.5]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = in_process("resume", str(out))
    assert done.returncode == 2 and "cannot resume: candidate 0" in done.stderr and "noise" in done.stderr


def artifact_keys(out, record):
    from safetensors import safe_open

    with safe_open(str(out / "journal" / record["artifact"]["file"]), framework="numpy") as handle:
        prefix = record["artifact"]["key"] + "."
        return {key[len(prefix):]: handle.get_tensor(key) for key in handle.keys() if key.startswith(prefix)}


def test_journal_images_are_the_pngs_bit_for_bit(reference):
    import numpy as np
    from PIL import Image

    summary = json.loads((reference / "summary.json").read_text())
    records = {(r["search"], r["repeat"], r["id"]): r for r in candidate_records(reference)}
    for result in summary["results"]:
        key = ("class:%d" % result["condition"]["class_label"], result["repeat"], result["candidate"])
        stored = artifact_keys(reference, records[key])
        assert stored["image8"].dtype == np.uint8
        png = np.asarray(Image.open(reference / result["image"]))
        assert np.array_equal(stored["image8"][0], png)
        assert stored["thumb"].shape == stored["image8"].shape  # 16 px images need no smaller thumbnail


def test_keep_images_drops_only_beaten_candidates_and_resumes_exactly(reference, in_process, tmp_path):
    out = tmp_path / "kept"
    args = ["predict", *JOB, "--model.keep_images", "1", "--out", str(out)]
    kill_after_progress(start(args), out / "journal" / "rank0.jsonl", random.Random(5))
    assert not (out / "summary.json").exists(), "the run finished before it could be killed"
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert comparable(out) == comparable(reference)
    summary = json.loads((out / "summary.json").read_text())
    chosen = {("class:%d" % r["condition"]["class_label"], r["repeat"], r["candidate"]) for r in summary["results"]}
    earlier_best, dropped = {}, 0
    for record in candidate_records(out):
        search, score = (record["search"], record["repeat"]), record["scores"]["digits-classifier"]
        stored = artifact_keys(out, record)
        assert "thumb" in stored and "root" in stored
        if record["stop"] == 0 and "image8" not in stored:
            dropped += 1
            assert (record["search"], record["repeat"], record["id"]) not in chosen
            assert earlier_best.get(search, -1) > score, "an image was dropped that no earlier candidate beat"
        if record["stop"] == 0:
            earlier_best[search] = max(earlier_best.get(search, -1), score)
    assert dropped > len(chosen)


def test_ctrl_c_stops_after_a_journaled_round_and_time_sums_over_every_part(reference, in_process, tmp_path):
    out = tmp_path / "interrupted"
    first = start(["predict", *JOB, "--out", str(out)])
    code = kill_after_progress(first, out / "journal" / "rank0.jsonl", random.Random(3), how=signal.SIGINT)
    last = first.stderr.read().strip().splitlines()[-1]
    assert code == 130 and "stopped on Ctrl-C" in last and f"noisesearch resume {out}" in last, (code, last)
    part = json.loads((out / "parts" / "rank0.json").read_text())
    assert part["parts"] == 1 and part["elapsed_s"] > 0
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert comparable(out) == comparable(reference)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parts"] == 2 and summary["elapsed_s"] > part["elapsed_s"]
    assert summary["denoiser_s"] > part["denoiser_s"]


def test_resuming_a_finished_run_says_so_and_changes_nothing(reference, in_process, tmp_path):
    out = tmp_path / "finished"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    journal = (out / "journal" / "rank0.jsonl").read_bytes()
    done = in_process("resume", str(out))
    assert done.returncode == 0 and "already finished" in done.stdout
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert (out / "journal" / "rank0.jsonl").read_bytes() == journal
