"""`noisesearch show DIR` and `list --json`: what a run did, and what is installed, read as people and scripts do."""

import json

from noisesearch.run.report.table import condition_label, format_table
from noisesearch.store.folder import RunDir
from noisesearch.store.records import ResultRecord


def record(index, condition, score, raw):
    return {"index": index, "condition": condition, "repeat": 0, "score": score, "scores": {"clip": raw},
            "nfe": 112, "candidates": 16, "image": f"images/{index}.png", "noise": f"noises/{index}.safetensors",
            "candidate": 0}


def typed(entries):
    return [ResultRecord.from_json(entry) for entry in entries]


SUMMARY = {"verifiers": ["clip:local-dir:/m", "aesthetic"], "nfe_used": 224,
           "elapsed_s": 1.5, "verifier_s": {"clip": 0.25},
           "results": [record(1, {"prompt": "a red fox"}, 0.5, 31.25), record(0, {"class_label": 3}, 1.0, 29.5)]}


def test_conditions_read_as_people_write_them():
    assert condition_label({"class_label": 3}) == "3"
    assert condition_label({"prompt": "a red fox"}) == '"a red fox"'
    assert condition_label({"prompt": "x" * 60}) == '"' + "x" * 39 + '…"'


def test_the_table_shows_the_driving_verifiers_raw_score_beside_the_aggregate():
    lines = format_table(typed(SUMMARY["results"]), SUMMARY).splitlines()
    assert lines[0].split() == ["condition", "rep", "clip", "aggregate", "nfe", "cands", "s"]
    assert lines[1].split() == ["3", "0", "29.5000", "1.0000", "112", "16", "-"]
    assert lines[2].split()[:4] == ['"a', 'red', 'fox"', "0"] and lines[2].split()[4:6] == ["31.2500", "0.5000"]


def test_one_verifier_has_no_aggregate_column_and_seconds_are_shown():
    results = [{**r, "seconds": 0.25} for r in SUMMARY["results"]]
    lines = format_table(typed(results), {**SUMMARY, "verifiers": ["clip"]}).splitlines()
    assert lines[0].split() == ["condition", "rep", "clip", "nfe", "cands", "s"]
    assert lines[1].split() == ["3", "0", "29.5000", "112", "16", "0.25"]


def test_show_prints_a_finished_runs_table_again(refused, tmp_path):
    RunDir(tmp_path).write_summary(SUMMARY)
    done = refused("show", str(tmp_path))
    assert done.returncode == 0
    assert "29.5000" in done.stdout and '"a red fox"' in done.stdout
    assert "nfe_used 224 in 1.5 s (verifiers: clip 0.25 s)" in done.stdout


def test_show_refuses_a_folder_without_a_finished_run_in_one_line(refused, tmp_path):
    done = refused("show", str(tmp_path))
    assert done.returncode == 2 and "holds no finished run" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_list_json_names_every_plugin_and_its_distribution(refused):
    done = refused("list", "--json")
    assert done.returncode == 0
    listed = json.loads(done.stdout)
    assert set(listed) == {"algorithms", "verifiers", "pipelines"}
    random = next(entry for entry in listed["algorithms"] if entry["name"] == "random")
    assert random["plugin"] == "builtin-algorithms" and random["distribution"].startswith("noisesearch ")
    assert refused("list", "--yaml").returncode == 2
