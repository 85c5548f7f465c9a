"""`noisesearch bench` on the quick digits study, run as a user would; its report opened in headless Chromium."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, run_cli
from noisesearch import metrics
from noisesearch.cli import main
from noisesearch_plugins.digits.evaluation import DigitsEvaluation

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
        "random--digits-classifier--28nfe", "random--digits-classifier--112nfe",
        "halving--digits-classifier--28nfe", "halving--digits-classifier--112nfe",
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
    assert rows["random--digits-classifier--112nfe"]["metrics"]["accuracy"] >= rows["steps--4"]["metrics"]["accuracy"]


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
    dom = subprocess.run([chromium, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<tr>") == 1 + 7 and 'id="scaling"' in dom and dom.count("<figure>") == 7
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


def test_a_budget_too_small_for_a_cell_is_reported_not_fatal(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("classes: '3'\nper_condition: 1\nalgorithms: [{name: zero-order, args: {n: 2}}]\n"
                      "budgets: [14, 21]\n")
    assert main(["bench", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "needs 21 NFEs" in rows[0]["infeasible"] and rows[0]["metrics"] == {}
    assert rows[1]["metrics"]["accuracy"] in (0.0, 1.0) and not rows[1].get("infeasible")
    assert "infeasible" in (tmp_path / "out" / "report.html").read_text()
