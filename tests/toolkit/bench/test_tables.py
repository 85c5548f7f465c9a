"""`noisesearch bench tables` and `pool`: every interval recomputed from per-search values at the level asked for,
checked against the same statistics computed here by hand; typed rows read old results.json files unchanged."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from noisesearch.bench.rows import CellRow
from noisesearch.bench.tables import Tables, pooled_line, verdicts_from_counts
from noisesearch.bench import uncertainty

from bootstrap_by_hand import cluster_draws, interval as clustered_interval

CELL = [1, 1, 1, 0, 0, 1, 1, 0]
REFERENCE = [1, 0, 1, 0, 0, 0, 1, 1]  # only the cell: searches 1 and 5; only the reference: search 7


def keys_of(verdicts):
    return [f"class:{i % 2}#{i}" for i in range(len(verdicts))]


def row(name, verdicts, algorithm="halving", nfe=240.0, seconds=1.0, comparison=None):
    keys = keys_of(verdicts)
    entry = {"cell": name, "algorithm": algorithm, "algorithm_args": {}, "verifier": "v", "baseline": False,
             "steps": 4, "budget_nfe": int(nfe), "budget_seconds": None, "nfe_used": nfe, "searches": len(verdicts),
             "drove": ["v"], "metrics": {"accuracy": float(np.mean(verdicts))},
             "per_search": {"key": keys, "correct": [bool(v) for v in verdicts]}, "intervals": {"accuracy": [0, 1]},
             "point_estimates": [], "cost": {"wall_s": seconds * len(verdicts), "denoiser_s": None, "verifier_s": {},
                                             "wall_s_per_search": seconds},
             "health": {"vendi": 1.5, "vendi_features": "digits-evaluator", "tie_rate": 0.25,
                        "kendall_tau": {"evaluator": 0.2}}}
    if comparison:
        entry["comparison"] = {"reference": comparison, "metrics": []}
    return entry


def by_hand(cell, reference, seed, level):
    """The paired prompt-clustered bootstrap percentile interval of a difference of means, and McNemar's exact p."""
    cell, reference = np.asarray(cell, float), np.asarray(reference, float)
    replicates = [cell[draw].mean() - reference[draw].mean() for draw in cluster_draws(keys_of(cell), seed)]
    tail = 100 * (1 - level) / 2
    only_cell = int(((cell == 1) & (reference == 0)).sum())
    only_reference = int(((cell == 0) & (reference == 1)).sum())
    return (cell.mean() - reference.mean(), list(np.percentile(replicates, [tail, 100 - tail])),
            binomtest(only_cell, only_cell + only_reference, 0.5).pvalue)


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_a_paired_comparison_is_the_bootstrap_and_mcnemar_computed_by_hand(level):
    rows = [CellRow.from_json(row("halving", CELL)), CellRow.from_json(row("random", REFERENCE, "random"))]
    tables = Tables(rows, seed=3, level=level)
    entry = tables.paired(rows[0].per_search, rows[1].per_search)
    difference, interval, p_value = by_hand(CELL, REFERENCE, 3, level)
    assert entry.difference == pytest.approx(difference) == 0.125
    assert entry.interval == pytest.approx(interval) and entry.p_value == pytest.approx(p_value)
    text = tables.pairs(["halving=random"])
    assert f"+0.125 [{interval[0]:+.3f}, {interval[1]:+.3f}], p {p_value:.3g}" in text


def test_every_interval_printed_follows_the_level_not_the_stored_95_percent_ones():
    rows = [CellRow.from_json(row("halving", CELL, comparison="random")),
            CellRow.from_json(row("random", REFERENCE, "random"))]
    narrow = Tables(rows, seed=0, level=0.5)
    cells = narrow.cells()
    low, high = clustered_interval(CELL, keys_of(CELL), 0, level=0.5)
    assert f"0.625 [{low:.3f}, {high:.3f}]" in cells and "[0.000, 1.000]" not in cells  # not the stored interval
    assert "accuracy [50%]" in cells
    _, interval, _ = by_hand(CELL, REFERENCE, 0, 0.5)
    assert f"[{interval[0]:+.3f}, {interval[1]:+.3f}]" in cells  # the comparison with random search, at 50% too


def test_pooled_counts_give_the_studies_verdicts_difference_and_test():
    first, second = verdicts_from_counts(2, 1, 8), verdicts_from_counts(0, 3, 6)
    assert sum(first[0]["correct"]) - sum(first[1]["correct"]) == 1
    line = pooled_line(*first, seed=0, level=0.95)
    assert line.startswith("+0.1250 [") and f"McNemar p {binomtest(2, 3, 0.5).pvalue:.3g}" in line
    assert "2 searches only the cell got right, 1 only the reference, 8 searches" in line
    both = [{"key": [f"{i}|{k}" for i, pair in enumerate((first, second)) for k in pair[side]["key"]],
             "correct": first[side]["correct"] + second[side]["correct"]} for side in (0, 1)]
    pooled = pooled_line(*both, seed=0, level=0.95)
    assert pooled.startswith(f"{(2 - 1 - 3) / 14:+.4f}") and f"p {binomtest(2, 6, 0.5).pvalue:.3g}" in pooled


def test_intervals_resample_prompts_then_searches_within_them():
    """Eight prompts of six searches, each prompt all right or all wrong: the searches are not independent, so the
    clustered interval is as wide as eight draws allow, far wider than the one that treats 48 searches as 48."""
    keys = [f"prompt:p{p}#{r}" for p in range(8) for r in range(6)]
    verdicts = [p % 2 == 0 for p in range(8) for _ in range(6)]
    clustered = uncertainty.intervals({"key": keys, "correct": verdicts}, 0)["accuracy"]
    naive = uncertainty.intervals({"key": list(range(48)), "correct": verdicts}, 0)["accuracy"]
    assert clustered == pytest.approx(clustered_interval(verdicts, keys, 0))
    assert clustered[1] - clustered[0] > 1.8 * (naive[1] - naive[0])
    assert uncertainty.cluster_of("3|prompt:a red circle#7") == "prompt:a red circle"  # pooled studies: one prompt


def test_a_bound_checked_against_a_line_carries_its_monte_carlo_error():
    cell = [1, 0, 1, 1, 0, 1, 1, 1] * 6
    reference = [1, 1, 0, 1, 0, 1, 0, 1] * 6
    keys = [f"prompt:p{i % 8}#{i // 8}" for i in range(48)]
    (entry,) = [m for m in uncertainty.paired({"key": keys, "correct": cell}, {"key": keys, "correct": reference}, 0)
                if m["metric"] == "accuracy"]
    replicates = np.asarray([np.mean(np.asarray(cell)[d]) - np.mean(np.asarray(reference)[d])
                             for d in cluster_draws(keys, 0)])
    batches = np.asarray([np.percentile(b, [2.5, 97.5]) for b in np.array_split(replicates, 10)])
    assert entry["mc_error"] == pytest.approx(float((batches.std(0, ddof=1) / np.sqrt(10)).max()))
    assert 0 < entry["mc_error"] < 0.05


def test_a_results_json_written_before_rows_were_typed_reads_and_writes_back_unchanged():
    old = [row("halving", CELL, comparison="random"), row("random", REFERENCE, "random"),
           {"cell": "beam--v--10nfe", "algorithm": "beam", "algorithm_args": {"width": 2}, "verifier": "v",
            "baseline": False, "steps": 4, "budget_nfe": 10, "budget_seconds": None, "nfe_used": None,
            "searches": 0, "drove": [], "metrics": {}, "infeasible": "too small", "a_newer_field": 1}]
    assert [CellRow.from_json(entry).to_json() for entry in old] == old


def test_the_tables_command_prints_a_studys_tables_and_refuses_a_folder_without_one(in_process, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps([row("halving", CELL, comparison="random"),
                                                       row("random", REFERENCE, "random", nfe=960, seconds=4)]))
    done = in_process("bench", "tables", str(tmp_path), "--target", "random", "--level", "0.9")
    assert done.returncode == 0, done.stderr
    assert "Every interval below is a 90% bootstrap interval clustered by prompt" in done.stdout
    assert "halving, v" in done.stdout and "(Monte Carlo ±0.0" in done.stdout  # the target table checks a line
    assert "minus random [90% paired]" in done.stdout
    refused = in_process("bench", "tables", str(tmp_path / "nothing"))
    assert refused.returncode == 2 and "no results.json" in refused.stderr and "Traceback" not in refused.stderr
    wrong = in_process("bench", "tables", str(tmp_path), "--level", "2")
    assert wrong.returncode == 2 and "between 0 and 1" in wrong.stderr


def test_the_seconds_table_says_when_two_cells_differ_by_less_than_their_spread_between_runs():
    here = [CellRow.from_json(row("halving", CELL, seconds=1.0)), CellRow.from_json(
        row("random", REFERENCE, "random", nfe=960, seconds=1.3))]
    other_day = [CellRow.from_json(row("halving", CELL, seconds=1.5)), CellRow.from_json(
        row("random", REFERENCE, "random", nfe=960, seconds=1.35))]
    steady = [CellRow.from_json(row("halving", CELL, seconds=1.05)), CellRow.from_json(
        row("random", REFERENCE, "random", nfe=960, seconds=1.32))]
    assert Tables(here).seconds().splitlines()[-1].endswith("| - |")
    assert "| no (0.30 <= 0.50) |" in Tables(here).seconds([other_day]).splitlines()[-1]
    assert "| yes (0.30 > 0.05) |" in Tables(here).seconds([steady]).splitlines()[-1]
