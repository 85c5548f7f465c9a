"""Reward hacking measured: a budget step is flagged only where the driving verifier rises while the truth or a
held-out verifier falls, both by paired intervals clustered by prompt."""

import numpy as np

from noisesearch.bench.hacking import budget_steps, hacking_table, plot_hacking
from noisesearch.bench.report import hacking_section
from noisesearch.bench.rows import CellRow

KEYS = [f"prompt:p{p}#{r}" for p in range(12) for r in range(4)]  # 12 prompts, 4 searches each


def cell(budget, drive, correct, held_out, name="random"):
    per_search = {"key": KEYS, "correct": [bool(c) for c in correct], "verifier:clip": list(drive),
                  "verifier:held": list(held_out)}
    metrics = {"accuracy": float(np.mean(correct)), "verifier:clip": float(np.mean(drive)),
               "verifier:held": float(np.mean(held_out))}
    return CellRow(cell=f"{name}--clip--{budget}nfe", algorithm=name, algorithm_args={}, verifier="clip",
                   baseline=False, steps=10, budget_nfe=budget, budget_seconds=None, nfe_used=float(budget),
                   searches=len(KEYS), drove=["clip"], metrics=metrics, per_search=per_search)


def noisy(seed, shift, size=len(KEYS)):
    return np.random.default_rng(seed).normal(0, 0.1, size) + shift


def test_a_step_where_the_verifier_rises_and_the_truth_falls_is_flagged_and_only_that_one():
    rng = np.random.default_rng(0)
    right = rng.random(len(KEYS)) < 0.8
    worse = right & (rng.random(len(KEYS)) < 0.5)  # half the correct searches turn wrong, none turns right
    rows = [cell(100, noisy(1, 0.0), right, noisy(2, 0.0)),
            cell(200, noisy(1, 0.5), right, noisy(2, 0.3)),  # everything rises: no flag
            cell(400, noisy(1, 1.0), worse, noisy(2, 0.3))]  # the verifier rises, the truth falls
    steps = budget_steps(rows, seed=0)
    assert [(s.smaller.budget_nfe, s.bigger.budget_nfe) for s in steps] == [(100, 200), (200, 400)]
    assert steps[0].flags() == []
    assert steps[1].flags() == ["clip rises while accuracy falls"]
    assert steps[1].held_out == ["verifier:held"] and steps[1].direction("verifier:held") is None
    table = hacking_table(steps, "95%")
    assert table.count("**clip rises while accuracy falls**") == 1


def test_a_held_out_verifier_that_falls_flags_the_step_too(tmp_path):
    right = np.ones(len(KEYS), bool)
    rows = [cell(100, noisy(1, 0.0), right, noisy(2, 0.0)), cell(200, noisy(1, 0.5), right, noisy(2, -0.5))]
    (step,) = budget_steps(rows, seed=0)
    assert step.flags() == ["clip rises while held falls"]
    assert plot_hacking(rows, tmp_path / "hacking.png") and (tmp_path / "hacking.png").stat().st_size > 0
    page = hacking_section(tmp_path, rows)
    assert "Reward hacking" in page and "class='flag'" in page and 'id="hacking"' in page


def test_series_differ_by_algorithm_and_need_two_budgets_on_the_same_searches():
    right = np.ones(len(KEYS), bool)
    rows = [cell(100, noisy(1, 0.0), right, noisy(2, 0.0)), cell(200, noisy(1, 0.0), right, noisy(2, 0.0), "smc")]
    assert budget_steps(rows, seed=0) == []


def test_a_study_against_its_twin_under_other_settings_pairs_each_cell():
    from noisesearch.bench.tables import Tables

    rng = np.random.default_rng(3)
    right = rng.random(len(KEYS)) < 0.5
    better = right | (rng.random(len(KEYS)) < 0.6)  # the guarded twin: every right search stays right, more join
    guarded = [cell(100, noisy(1, 0.0), better, noisy(2, 0.0))]
    plain = [cell(100, noisy(1, 0.1), right, noisy(2, 0.0)), cell(200, noisy(1, 0.1), right, noisy(2, 0.0))]
    table = Tables(guarded).against(plain, "plain")
    (line,) = [row for row in table.splitlines() if row.startswith("| random")]
    gain = float(np.mean(better) - np.mean(right))
    assert f"+{gain:.3f} [+" in line and line.count("|") == 7  # a positive difference, its interval above 0
