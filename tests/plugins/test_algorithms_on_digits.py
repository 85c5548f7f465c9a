"""Every built-in algorithm through `noisesearch predict` on digits: budget kept, lineage journaled."""

import json

import pytest

from noisesearch.cli import main

CASES = {
    "zero-order": ("{n: 2}", 112),
    "paths": ("{n: 2, m: 2}", 112),
    "smc": ("{}", 56),
    "beam": ("{width: 2, branch: 2}", 112),
    "evolution": ("{population: 4, elites: 1}", 112),
    "halving": ("{}", 28),
    "gradient": ("{}", 56),
}


@pytest.mark.parametrize("algorithm", list(CASES))
def test_predict_keeps_budget_and_journals_lineage(algorithm, tmp_path):
    args, budget = CASES[algorithm]
    code = main(["predict", "--data.classes", "2,5", "--model.algorithm", algorithm, "--model.algorithm_args",
                 args, "--model.budget_nfe", str(budget), "--out", str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    records = [json.loads(line) for line in (tmp_path / "journal" / "rank0.jsonl").read_text().splitlines()]
    candidates = [r for r in records if r["type"] == "candidate"]
    assert summary["nfe_used"] <= 2 * budget and all(r["nfe"] <= budget for r in summary["results"])
    per_search = {}  # what each search was charged, against what its candidates' journal lines say they cost
    for r in candidates:
        if r["id"] >= 0:
            per_search[r["search"]] = per_search.get(r["search"], 0) + r["nfe"]
    assert {f"class:{r['condition']['class_label']}": r["nfe"] for r in summary["results"]} == per_search
    baselines = [r for r in candidates if r["id"] == -1]  # the first noise solved plainly, apart from the budget
    if algorithm in ("paths", "smc", "beam", "halving"):
        assert len(baselines) == 2 and all(r["nfe"] == summary["sample_nfe"] and r["stop"] == 0 for r in baselines)
        assert summary["baseline_nfe"] == 2 * summary["sample_nfe"]
        assert all(r["first_candidate"] == -1 and r["first_scores"] == b["scores"]
                   for r, b in zip(summary["results"], baselines))
    else:  # its own first candidate is that draw
        assert not baselines and "baseline_nfe" not in summary
        assert all(r["first_candidate"] == 0 for r in summary["results"])
    candidates = [r for r in candidates if r["id"] >= 0]
    if algorithm in ("zero-order", "paths", "smc", "beam", "halving", "gradient"):
        assert any(r["parents"] for r in candidates), "no lineage recorded"
    ids = {(r["search"], r["repeat"], r["id"]) for r in candidates}
    for record in candidates:
        for parent in record["parents"]:
            assert (record["search"], record["repeat"], parent) in ids
