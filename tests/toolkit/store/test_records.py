"""The typed journal: records read back as they were written, and a run journaled by an earlier version (before the
records were typed) reports and resumes to the results it would have given."""

import json
import shutil
from pathlib import Path

from noisesearch.run.report.page import load_searches, write_report
from noisesearch.store.folder import RunDir
from noisesearch.store.journal import read_journal, read_run
from noisesearch.store.records import CandidateRecord, ResultRecord

OLD_RUN = Path(__file__).parent / "old-main-run"


def test_every_journal_line_reads_back_to_the_same_json(tmp_path):
    for line in read_journal(OLD_RUN / "journal" / "rank0.jsonl"):
        assert CandidateRecord.from_json(line).to_json() == line
    entry = {"index": 0, "condition": {"prompt": "a red fox"}, "repeat": 1, "image": "images/a.png",
             "noise": "noises/a.safetensors", "candidate": 3, "score": 0.5, "scores": {"clip": 30.0}, "nfe": 7,
             "candidates": 4, "replayable": False, "noise_seed": 11, "later_field": [1]}
    record = ResultRecord.from_json(entry)
    assert record.to_json() == entry and record.key == ("prompt:a red fox", 1)
    assert ResultRecord.from_line(record.line()) == record


def test_old_journals_read_as_typed_records():
    candidates, results = read_run(OLD_RUN / "journal")
    assert len(candidates) == 9 and not results
    kept = [record for record in candidates.values() if record.level > 0]
    assert len(kept) == 8 and all(record.artifact is not None for record in kept)
    finished = candidates[("class:3", 0, 4)]
    assert finished.level == 0.0 and finished.lineage == [finished.start]


def test_a_run_an_earlier_version_journaled_reports_and_resumes(in_process, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(OLD_RUN, out)
    assert write_report(out).is_file()
    searches = load_searches(RunDir(out))
    assert [(s.key, len(s.candidates), s.chosen) for s in searches] == [("class:3", 5, None), ("class:7", 4, None)]
    assert all(c.thumb and c.thumb.startswith("data:image/png") for s in searches for c in s.candidates)
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    expected = json.loads((OLD_RUN / "uninterrupted.json").read_text())
    fields = ("condition", "repeat", "candidate", "score", "scores", "nfe", "candidates")
    assert [{k: r[k] for k in fields} for r in summary["results"]] == expected["results"]
    assert summary["nfe_used"] == expected["nfe_used"]
    lines = (out / "journal" / "rank0.jsonl").read_text().splitlines()
    assert sum('"type": "candidate"' in line for line in lines) == 12  # 9 replayed, 1 evaluated, 2 baselines
    assert sum('"id": -1,' in line for line in lines) == 2  # the no-search baselines the old version never made
