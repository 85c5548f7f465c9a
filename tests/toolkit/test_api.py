"""`noisesearch.search` from Python: the same run session as `predict`, with no Lightning; with `out` it writes a run
folder that `show`, `report` and `resume` read, and it resumes one."""

import json
import subprocess
import sys

import pytest

import noisesearch
from noisesearch.errors import BudgetError
from noisesearch.run.settings import build

from helpers import ROOT


def cut(out, keep):
    """An interrupted run: the first ``keep`` candidate lines of the journal, no results and no summary."""
    journal = out / "journal" / "rank0.jsonl"
    lines = [line for line in journal.read_text().splitlines() if '"type": "candidate"' in line][:keep]
    journal.write_text("".join(line + "\n" for line in lines))
    (out / "summary.json").unlink()


def rows(results):
    return [(r.task.condition.key, r.candidate, r.scores, r.nfe, r.candidates) for r in results]


@pytest.mark.slow
def test_search_needs_no_lightning():
    code = ("import sys, noisesearch; noisesearch.search(classes=[3], budget_nfe=14); "
            "print(any(name == 'lightning' or name.startswith('lightning.') for name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]


def test_search_writes_a_run_that_show_report_and_resume_read(in_process, tmp_path):
    out = tmp_path / "run"
    first = noisesearch.search(classes=[3, 7], algorithm="halving", budget_nfe=28, out=out)
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["candidate"], r["scores"]) for r in summary["results"]] == [(r.candidate, r.scores) for r in first]
    assert (out / "report.html").is_file() and (out / "grid.png").is_file() and (out / "run.json").is_file()
    shown = in_process("show", str(out))
    assert shown.returncode == 0 and shown.stdout.splitlines()[1].split()[0] == "3"
    cut(out, 9)
    done = in_process("resume", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    again = json.loads((out / "summary.json").read_text())
    timeless = [[{k: v for k, v in r.items() if k != "seconds"} for r in s["results"]] for s in (summary, again)]
    assert timeless[0] == timeless[1] and again["nfe_used"] == summary["nfe_used"]
    assert again["parts"] == 2


def test_search_resumes_its_own_folder_and_returns_every_result(tmp_path):
    out = tmp_path / "run"
    first = noisesearch.search(classes=[3, 7], algorithm="halving", budget_nfe=28, out=out)
    cut(out, 5)
    resumed = noisesearch.search(classes=[3, 7], algorithm="halving", budget_nfe=28, out=out, resume=True)
    assert rows(resumed) == rows(first)
    lines = (out / "journal" / "rank0.jsonl").read_text().splitlines()
    assert sum('"type": "candidate"' in line for line in lines) == 12  # 5 and a no-search baseline a search
    assert sum('"id": -1,' in line for line in lines) == 2


def test_a_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    out = tmp_path / "run"
    noisesearch.search(classes=[3], budget_nfe=14, out=out)
    with pytest.raises(noisesearch.UsageError, match="already holds a run"):
        noisesearch.search(classes=[3], budget_nfe=14, out=out)
    noisesearch.search(classes=[3], budget_nfe=28, out=out, overwrite=True)
    assert json.loads((out / "summary.json").read_text())["budget_nfe"] == 28


def test_a_budget_too_small_is_a_budget_error():
    with pytest.raises(BudgetError, match="budget_nfe"):
        build(algorithm="random", algorithm_args={"n": 4}, budget_nfe=14)
    with pytest.raises(BudgetError):
        build(budget_nfe=3)
