"""`noisesearch bench` on the quick digits study, run as a user would; its report opened in headless Chromium."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from bootstrap_by_hand import cluster_draws, interval
from helpers import ROOT, run_cli
from noisesearch.bench.runner import metrics
from noisesearch.cli import main
from noisesearch_plugins.digits.evaluation import DigitsEvaluation

pytestmark = pytest.mark.slow  # bench studies, and a browser

METRICS = {"fid", "inception_score", "precision", "recall", "accuracy"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    done = run_cli("bench", "--config", "configs/bench/digits-quick.yaml", "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_results_cover_the_grid_and_the_baseline(study):
    out, done = study
    rows = json.loads((out / "results.json").read_text())
    assert [r["cell"] for r in rows] == [
        "random--digits-classifier--28nfe", "random--digits-classifier--56nfe",
        "halving--digits-classifier--28nfe", "halving--digits-classifier--56nfe",
        "steps--2", "steps--4", "steps--8"]
    for row in rows:
        assert METRICS <= set(row["metrics"]) and row["nfe_used"] <= row["budget_nfe"]
        assert (out / "grids" / f"{row['cell']}.png").is_file()
    searched = [r for r in rows if not r["baseline"]]
    assert all(r["drove"] == ["digits-classifier"] and "verifier:digits-classifier" in r["metrics"] for r in searched)
    assert (out / "results.csv").read_text().count("\n") == len(rows) + 1
    assert "[bench] cell 7/7" in done.stdout and "NFEs spent" in done.stdout


def test_search_beats_plain_sampling_under_the_evaluator(study):
    rows = {r["cell"]: r for r in json.loads((study[0] / "results.json").read_text())}
    assert rows["random--digits-classifier--56nfe"]["metrics"]["accuracy"] >= rows["steps--4"]["metrics"]["accuracy"]


def test_metrics_agree_with_a_recomputation_from_the_saved_images(study):
    out = study[0]
    row = json.loads((out / "results.json").read_text())[1]
    summary = json.loads((out / "cells" / row["cell"] / "summary.json").read_text())
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(out / "cells" / row["cell"] / r["image"]),
                                                      dtype=np.float32) / 255)[None] for r in summary["results"]])
    labels = torch.tensor([r["condition"]["class_label"] for r in summary["results"]])
    evaluation = DigitsEvaluation()
    with torch.no_grad():
        predicted = evaluation.logits(images).argmax(1)
    assert (predicted == labels).float().mean().item() == pytest.approx(row["metrics"]["accuracy"])
    assert frechet_by_hand(evaluation, images) == pytest.approx(row["metrics"]["fid"], rel=1e-3)


def bootstrap_by_hand(values, keys, seed):
    """The documented prompt-clustered percentile bootstrap of a mean, written out (tests/bootstrap_by_hand.py)."""
    return interval(values, keys, seed)


def mcnemar_by_hand(mine, theirs):
    """Exact two-sided McNemar: the binomial tail of the discordant pairs at one half, doubled."""
    import math

    b = sum(bool(x) and not y for x, y in zip(mine, theirs))
    c = sum(bool(y) and not x for x, y in zip(mine, theirs))
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n)


def test_intervals_and_paired_tests_recompute_from_results_json(study):
    out = study[0]
    rows = {r["cell"]: r for r in json.loads((out / "results.json").read_text())}
    searched = rows["halving--digits-classifier--56nfe"]
    reference = rows["random--digits-classifier--56nfe"]
    for row in rows.values():
        correct = row["per_search"]["correct"]
        assert len(correct) == row["searches"] == 30
        assert np.mean(correct) == pytest.approx(row["metrics"]["accuracy"])
        keys = row["per_search"]["key"]
        assert row["intervals"]["accuracy"] == pytest.approx(bootstrap_by_hand(correct, keys, 0), abs=1e-12)
        assert set(row["point_estimates"]) >= {"fid", "inception_score", "precision", "recall"}
    scores = searched["per_search"]["verifier:digits-classifier"]
    keys = searched["per_search"]["key"]
    assert searched["intervals"]["verifier:digits-classifier"] == pytest.approx(bootstrap_by_hand(scores, keys, 0))
    assert searched["comparison"]["reference"] == reference["cell"]
    compared = {item["metric"]: item for item in searched["comparison"]["metrics"]}
    mine, theirs = searched["per_search"]["correct"], reference["per_search"]["correct"]
    assert compared["accuracy"]["difference"] == pytest.approx(np.mean(mine) - np.mean(theirs))
    assert compared["accuracy"]["p_value"] == pytest.approx(mcnemar_by_hand(mine, theirs))
    differences = np.asarray(mine, float) - np.asarray(theirs, float)
    replicates = [differences[draw].mean() for draw in cluster_draws(keys, 0)]
    assert compared["accuracy"]["interval"] == pytest.approx(list(np.percentile(replicates, [2.5, 97.5])))
    from scipy.stats import wilcoxon

    verifier = np.asarray(scores) - np.asarray(reference["per_search"]["verifier:digits-classifier"])
    expected = 1.0 if not verifier.any() else wilcoxon(verifier).pvalue
    assert compared["verifier:digits-classifier"]["p_value"] == pytest.approx(expected)
    assert "comparison" not in reference  # random search is the reference, not compared with itself
    baseline = rows["steps--8"]  # 15 NFEs: nearest the 28-NFE random cell
    assert baseline["comparison"]["reference"] == "random--digits-classifier--28nfe"
    lines = (out / "comparison.csv").read_text().splitlines()
    assert lines[0].startswith("cell,reference,metric,") and len(lines) == 1 + sum(
        len(r.get(key, {}).get("metrics", [])) for r in rows.values() for key in ("comparison", "comparison_seconds"))
    randoms = [r for r in rows.values() if r["algorithm"] == "random"]
    nearest = min(randoms, key=lambda r: (abs(r["cost"]["wall_s_per_search"] - searched["cost"]["wall_s_per_search"]),
                                          r["cost"]["wall_s_per_search"]))
    assert searched["comparison_seconds"]["reference"] == nearest["cell"]  # at equal seconds, as at equal NFEs


def test_cells_report_seconds_and_verifier_health(study):
    rows = json.loads((study[0] / "results.json").read_text())
    for row in rows:
        cost, found = row["cost"], row["health"]
        assert 0 < cost["denoiser_s"] <= cost["wall_s"] and cost["wall_s_per_search"] == pytest.approx(
            cost["wall_s"] / row["searches"])
        assert 1.0 <= found["vendi"] <= 3.0 + 1e-9 and found["vendi_features"] == "digits-evaluator"
        if row["baseline"]:
            assert "tie_rate" not in found and set(cost["verifier_s"]) <= {"digits-classifier"}
            continue
        assert cost["verifier_s"]["digits-classifier"] > 0
        assert 0.0 <= found["tie_rate"] <= 1.0
        assert set(found["kendall_tau"]) == {"evaluator"}  # the only other scorer is the driving verifier
        tau = found["kendall_tau"]["evaluator"]
        if row["algorithm"] == "random":  # halving finishes one candidate per search at 28 NFEs: no tau there
            assert -1.0 <= tau <= 1.0


def test_vendi_and_ties_worked_by_hand():
    from noisesearch.bench.health import is_tie, mean_kendall, tie_rate, vendi

    copies = torch.ones(4, 3)
    assert vendi(copies) == pytest.approx(1.0)
    assert vendi(torch.eye(4)) == pytest.approx(4.0)
    # two orthogonal pairs of copies: eigenvalues 1/2, 1/2 of K/n, entropy log 2
    assert vendi(torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])) == pytest.approx(2.0)
    assert is_tie(0.5, 0.5 + 1e-9) and not is_tie(0.5, 0.5001)
    assert tie_rate([[0.9, 0.9, 0.1], [0.9, 0.5], [0.3]]) == pytest.approx(0.5)
    assert mean_kendall([([1, 2, 3], [1, 2, 3]), ([1, 2, 3], [3, 2, 1]), ([1, 1], [1, 2])]) == pytest.approx(0.0)


def frechet_by_hand(evaluation, generated):
    """FID written out (Heusel et al. 2017) with scipy's matrix square root, not the torchmetrics the code uses."""
    from scipy import linalg

    def statistics(images):
        with torch.no_grad():
            features = evaluation.features((images.clamp(0, 1) * 255).round() / 255).double().numpy()
        return features.mean(0), np.cov(features, rowvar=False)

    (mu_1, sigma_1), (mu_2, sigma_2) = statistics(evaluation.real_images()), statistics(generated)
    root = linalg.sqrtm(sigma_1 @ sigma_2).real
    return float(((mu_1 - mu_2) ** 2).sum() + np.trace(sigma_1 + sigma_2 - 2 * root))


def test_finished_cells_are_reused(study, capsys):
    out = study[0]
    shutil.rmtree(out / "cells" / "steps--8")
    assert main(["bench", "--config", str(ROOT / "configs/bench/digits-quick.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": reused in") == 6 and "steps--8: ran" in printed


def test_metrics_separate_real_from_noise():
    from noisesearch_plugins.digits.data import load_split

    evaluation = DigitsEvaluation()
    real = (load_split("train")[0][:150] + 1) / 2  # real digits outside the evaluator's reference set
    noise = torch.rand(150, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert metrics.fid(evaluation, real) < 5 < 100 < metrics.fid(evaluation, noise)
    assert metrics.inception_score(evaluation, real) > 8 > 2 > metrics.inception_score(evaluation, noise)
    assert metrics.precision_recall(evaluation, real)[0] > 0.9 > 0.1 > metrics.precision_recall(evaluation, noise)[0]


def test_report_renders_in_headless_chromium(study, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is required for this test: `apt-get install chromium` (.ci/run installs it)"
    report = study[0] / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run([chromium, *flags, "--window-size=1280,1600", "--virtual-time-budget=5000", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-overflowing=""' in dom, "a figure or table is wider than the page"
    results = dom.split('id="results"')[1].split("</table>")[0]
    assert results.count("<tr>") == 1 + 7 and 'id="scaling"' in dom and dom.count("<figure>") == 7
    assert 'id="scaling-seconds"' in dom and 'id="comparison"' in dom and 'id="health"' in dom
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri()],
                   capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1280) and pixels.std() > 10, "the screenshot is blank"


def test_bad_study_is_a_clean_error(tmp_path, capsys):
    config = tmp_path / "study.yaml"
    config.write_text("budgets: [0]\n")
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--config", str(config), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    config.write_text("algorithms: [{name: annealing}]\n")
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--config", str(config), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and "known algorithms" in capsys.readouterr().err
    config.write_text("score_verifiers: [self-supervised:digits-classifier]\n")
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--config", str(config), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and "x0-preview" in capsys.readouterr().err


def test_a_budget_too_small_for_a_cell_is_reported_not_fatal(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("classes: '3'\nper_condition: 1\nalgorithms: [{name: zero-order, args: {n: 2}}]\n"
                      "budgets: [14, 21]\n")
    assert main(["bench", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "needs 21 NFEs" in rows[0]["infeasible"] and rows[0]["metrics"] == {}
    assert rows[1]["metrics"]["accuracy"] in (0.0, 1.0) and not rows[1].get("infeasible")
    assert "infeasible" in (tmp_path / "out" / "report.html").read_text()


def test_cells_set_in_seconds_run_on_the_clock_and_compare_at_equal_seconds(tmp_path):
    # random at 28 NFEs and at a clock; zero-order on the clock; halving, which a clock cannot stop, is infeasible
    config = tmp_path / "study.yaml"
    config.write_text("classes: '3,7'\nper_condition: 1\nalgorithms: [{name: random, budgets: [28]}, "
                      "{name: zero-order, args: {n: 2}}, {name: halving}]\n"
                      "budgets: []\nbudgets_seconds: [0.5]\nbatch_size: 4\n")
    assert main(["bench", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    rows = {row["cell"]: row for row in json.loads((tmp_path / "out" / "results.json").read_text())}
    assert set(rows) == {"random--digits-classifier--28nfe", "random--digits-classifier--0p5s",
                         "zero-order-n2--digits-classifier--0p5s", "halving--digits-classifier--0p5s"}
    assert "a clock cannot stop it" in rows["halving--digits-classifier--0p5s"]["infeasible"]
    timed = rows["zero-order-n2--digits-classifier--0p5s"]
    assert timed["budget_seconds"] == 0.5 and timed["budget_nfe"] is None and timed["nfe_used"] >= 14
    by_seconds = timed["comparison_seconds"]["reference"]
    nearest = min((r for r in rows.values() if r["algorithm"] == "random"),
                  key=lambda r: abs(r["cost"]["wall_s_per_search"] - timed["cost"]["wall_s_per_search"]))
    assert by_seconds == nearest["cell"] and timed["comparison_seconds"]["metrics"]
    comparisons = (tmp_path / "out" / "comparison.csv").read_text()
    assert ",seconds\n" in comparisons.replace("\r\n", "\n") and ",nfe\n" in comparisons.replace("\r\n", "\n")
    assert 'id="comparison-seconds"' in (tmp_path / "out" / "report.html").read_text()


def test_an_algorithm_entry_brings_its_own_verifiers_and_budgets():
    from noisesearch.bench.study import AlgorithmSpec, Study, cells

    study = Study(algorithms=[AlgorithmSpec("random", budgets=[28, 112, 448]), AlgorithmSpec("halving"),
                              AlgorithmSpec("random", verifiers=[["a"], ["digits-classifier"]], budgets=[112])],
                  budgets=[28, 112], steps_baseline=[4])
    assert [c.name for c in cells(study)] == [
        "random--digits-classifier--28nfe", "random--digits-classifier--112nfe", "random--digits-classifier--448nfe",
        "halving--digits-classifier--28nfe", "halving--digits-classifier--112nfe", "random--a--112nfe", "steps--4"]


def test_cell_names_stay_short_enough_for_a_file_name_and_distinct():
    from noisesearch.bench.study import NAME_LIMIT, AlgorithmSpec, Study, cells

    folder = "/very/long/folder/" * 12
    study = Study(algorithms=[AlgorithmSpec("random")], budgets=[60],
                  verifiers=[[f"clip:local-dir:{folder}a"], [f"clip:local-dir:{folder}b"]])
    names = [c.name for c in cells(study)]
    assert len(set(names)) == 2 and all(len(n) <= NAME_LIMIT + len("--60nfe") for n in names), names
    assert all(n.startswith("random--clip-local-dir-very-long-folder") and n.endswith("--60nfe") for n in names)


def test_prompts_the_evaluator_cannot_parse_are_counted_not_dropped_silently():
    from noisesearch.bench.report import format_rows, unjudged_note
    from noisesearch.bench.rows import CellRow

    common = {"algorithm": "random", "algorithm_args": {}, "verifier": "geneval", "baseline": False, "steps": 8,
              "budget_seconds": None}
    rows = [CellRow(cell="random--geneval--120nfe", metrics={"accuracy": 0.5}, budget_nfe=120, nfe_used=120.0,
                    searches=6, unjudged=2, **common),
            CellRow(cell="random--geneval--240nfe", metrics={"accuracy": 0.6}, budget_nfe=240, nfe_used=240.0,
                    searches=6, **common)]
    assert "random--geneval--120nfe: 2 of 6" in unjudged_note(rows) and "240nfe" not in unjudged_note(rows)
    assert format_rows(rows).splitlines()[-1].startswith("random--geneval--120nfe: 2 of 6 searches have a prompt")


def test_interleaved_blocks_give_the_same_searches_each_cell_run_in_parts(tmp_path, in_process):
    import yaml

    import noisesearch

    study = {"pipeline": "digits", "classes": "0-3", "per_condition": 1, "seed": 0, "budgets": [28],
             "algorithms": [{"name": "random"}, {"name": "zero-order", "args": {"n": 2}}],
             "verifiers": [["digits-classifier"]], "batch_size": 64, "interleave": 2}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    done = in_process("bench", "--config", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    for row, (algorithm, args) in zip(json.loads((tmp_path / "out" / "results.json").read_text()),
                                      [("random", {}), ("zero-order", {"n": 2})]):
        summary = json.loads((tmp_path / "out" / "cells" / row["cell"] / "summary.json").read_text())
        assert summary["parts"] == 2 and len(summary["results"]) == 4  # two resumed parts, every search
        alone = noisesearch.search(classes=[0, 1, 2, 3], pipeline="digits", algorithm=algorithm, algorithm_args=args,
                                   budget_nfe=28, verifiers=["digits-classifier"], baseline=False)
        assert [r["candidate"] for r in summary["results"]] == [r.candidate for r in alone]  # the same searches
        for mine, theirs in zip(summary["results"], alone):  # to float rounding: chunks are batched otherwise
            assert mine["scores"] == pytest.approx(theirs.scores, rel=1e-5)


def test_a_driver_that_cannot_rescore_reports_the_searchs_own_scores(tmp_path, in_process):
    """self-supervised needs x0-previews, so bench cannot score a finished image with it: the chosen candidates' own
    scores, as the search made them, stand for it (what the reward-hacking table compares with the truth)."""
    import yaml

    study = {"pipeline": "digits", "classes": "0-1", "per_condition": 2, "seed": 0, "budgets": [28],
             "algorithms": [{"name": "random"}], "verifiers": [["self-supervised:digits-classifier"]],
             "score_verifiers": ["digits-classifier"], "batch_size": 64}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    assert in_process("bench", "--config", str(config), "--out", str(tmp_path / "out")).returncode == 0
    (row,) = json.loads((tmp_path / "out" / "results.json").read_text())
    summary = json.loads((tmp_path / "out" / "cells" / row["cell"] / "summary.json").read_text())
    assert row["per_search"]["verifier:self-supervised"] == [r["scores"]["self-supervised"] for r in summary["results"]]
    assert "verifier:digits-classifier" in row["per_search"]  # the held-out one, rescored
