"""`noisesearch show DIR` and `list --json`: what a run did, and what is installed, read as people and scripts do."""

import json

from noisesearch.run.report.table import condition_label, format_table
from noisesearch.store.folder import RunDir
from noisesearch.store.records import ResultRecord
from noisesearch.store.run_records import RunHeader, Summary


def record(index, condition, score, raw, first=None, ties=None):
    entry = {"index": index, "condition": condition, "repeat": 0, "score": score, "scores": {"clip": raw},
             "nfe": 112, "candidates": 16, "image": f"images/{index}.png", "noise": f"noises/{index}.safetensors",
             "candidate": 3}
    if first is not None:
        entry.update(first_candidate=0, first_scores={"clip": first}, ties=ties)
    return entry


def typed(entries):
    return [ResultRecord.from_json(entry) for entry in entries]


def header(summary):
    return RunHeader.from_json({key: value for key, value in summary.items() if key != "results"})


SUMMARY = {"verifiers": ["clip:local-dir:/m", "aesthetic"], "nfe_used": 224,
           "elapsed_s": 1.5, "verifier_s": {"clip": 0.25},
           "results": [record(1, {"prompt": "a red fox"}, 0.5, 31.25, 30.0, 0),
                       record(0, {"class_label": 3}, 1.0, 29.5)]}


def test_conditions_read_as_people_write_them():
    assert condition_label({"class_label": 3}) == "3"
    assert condition_label({"prompt": "a red fox"}) == '"a red fox"'
    assert condition_label({"prompt": "x" * 60}) == '"' + "x" * 39 + '…"'


def test_the_table_shows_the_driving_verifiers_raw_score_beside_the_aggregate():
    lines = format_table(typed(SUMMARY["results"]), header(SUMMARY)).splitlines()
    assert lines[0].split() == ["condition", "rep", "first", "clip", "gain", "aggregate", "ties", "nfe", "cands", "s"]
    assert lines[1].split() == ["3", "0", "-", "29.5000", "-", "1.0000", "-", "112", "16", "-"]  # an older run's
    assert lines[2].split() == ['"a', 'red', 'fox"', "0", "30.0000", "31.2500", "+1.2500", "0.5000", "112", "16",
                                "-"]


def test_one_verifier_has_no_aggregate_column_and_seconds_are_shown():
    results = [{**r, "seconds": 0.25} for r in SUMMARY["results"]]
    lines = format_table(typed(results), header({**SUMMARY, "verifiers": ["clip"]})).splitlines()
    assert lines[0].split() == ["condition", "rep", "first", "clip", "gain", "ties", "nfe", "cands", "s"]
    assert lines[1].split() == ["3", "0", "-", "29.5000", "-", "-", "112", "16", "0.25"]


def test_scores_get_the_digits_they_need_to_differ_and_ties_are_counted():
    from noisesearch.run.report.table import format_effect

    near = [record(0, {"class_label": 3}, 1.0, 1.0, 1 - 3e-7, 9), record(1, {"class_label": 4}, 1.0, 0.5, 0.25, 0)]
    summary = {**SUMMARY, "verifiers": ["clip"], "higher_is_better": {"clip": True}}
    lines = format_table(typed(near), header(summary)).splitlines()
    assert lines[1].split()[2:6] == ["0.9999997", "1.0000000", "+0.0000003", "9"]
    assert lines[2].split()[2:5] == ["0.2500", "0.5000", "+0.2500"]
    assert format_effect(typed(near), header(summary)) == ("search changed the answer in 2 of 2 searches; mean gain over the "
                                                   "first plain draw +0.1250 clip; 1 chose among tied candidates "
                                                   "(the lower id)")


def test_show_prints_a_finished_runs_table_again(in_process, tmp_path):
    RunDir(tmp_path).write_summary(Summary.from_json(SUMMARY))
    done = in_process("show", str(tmp_path))
    assert done.returncode == 0
    assert "29.5000" in done.stdout and '"a red fox"' in done.stdout
    assert "nfe_used 224 in 1.5 s (verifiers: clip 0.25 s)" in done.stdout


def test_show_refuses_a_folder_without_a_finished_run_in_one_line(in_process, tmp_path):
    done = in_process("show", str(tmp_path))
    assert done.returncode == 2 and "holds no finished run" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_list_json_names_every_plugin_and_its_distribution(in_process):
    done = in_process("list", "--json")
    assert done.returncode == 0
    listed = json.loads(done.stdout)
    assert set(listed) == {"algorithms", "verifiers", "pipelines", "api_version"} and listed["api_version"] == 3
    random = next(entry for entry in listed["algorithms"] if entry["name"] == "random")
    assert random["plugin"] == "builtin-algorithms" and random["distribution"].startswith("noisesearch ")
    assert in_process("list", "--yaml").returncode == 2


def test_show_and_report_on_a_bench_study_point_to_its_report(in_process, tmp_path):
    (tmp_path / "cells" / "random--clip--112nfe").mkdir(parents=True)
    (tmp_path / "results.json").write_text("[]")
    for command in ("show", "report"):
        done = in_process(command, str(tmp_path))
        assert done.returncode == 2 and "is a bench study, not a run" in done.stderr
        assert str(tmp_path / "report.html") in done.stderr and "noisesearch predict" not in done.stderr
