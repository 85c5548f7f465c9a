"""`noisesearch predict` end to end on the embedded digits model: outputs, contract, determinism."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from noisesearch.cli import main

SUMMARY_KEYS = {"pipeline", "algorithm", "verifiers", "seed", "steps", "guidance", "height", "width", "budget_nfe",
                "nfe_used", "elapsed_s", "results"}
RESULT_KEYS = {"condition", "repeat", "image", "noise", "score", "scores", "nfe", "candidates"}


def predict(out, *args):
    code = main(["predict", "--data.classes", "0,4,7", "--data.per_condition", "2", "--out", str(out), *args])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def run_dir(digits_run):
    """The session's finished digits run (conftest: classes 0-5, two searches each, 16 candidates a search)."""
    return digits_run


def test_outputs_follow_the_contract(run_dir):
    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["pipeline"] == "digits" and summary["algorithm"] == "random"
    assert len(summary["results"]) == 12
    for record in summary["results"]:
        assert RESULT_KEYS <= set(record)
        image = Image.open(out / record["image"])
        assert image.size == (summary["width"], summary["height"])
        noise = load_file(out / record["noise"])["noise"]
        assert noise.shape == (1, 16, 16)
        assert record["scores"]["digits-classifier"] == pytest.approx(record["score"])
        assert record["candidates"] == 16 and record["nfe"] == 112
    assert [r["condition"] for r in summary["results"]][::2] == [{"class_label": c} for c in range(6)]
    assert summary["nfe_used"] == 12 * 112
    assert (out / "grid.png").is_file() and (out / "config.yaml").is_file()
    records = [json.loads(line) for line in (out / "journal" / "rank0.jsonl").read_text().splitlines()]
    assert sum(r["type"] == "candidate" for r in records) == 12 * 16
    assert all(r["nfe"] == 2 * 4 - 1 for r in records if r["type"] == "candidate")  # 4 Heun steps: 7 calls


def test_terminal_output_reads_as_a_newcomer_needs_it(run_dir):
    _, done = run_dir
    progress = [line for line in done.stderr.splitlines() if line.startswith("noisesearch: ") and " NFEs (" in line]
    assert progress and progress[-1].startswith("noisesearch: 1344/1344 NFEs (100%), searches 12/12, ")  # not a tty:
    assert "candidates/s" in progress[-1] and "Predicting" not in done.stderr  # plain lines, one progress only
    for notice in ("Tip", "GPU available", "TPU available", "LitLogger", "Seed set", "Loading weights"):
        assert notice not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("noisesearch: random on digits (cpu), budget 112 NFEs per search")
    header = lines.index(next(line for line in lines if line.startswith("condition")))
    assert lines[header].split() == ["condition", "rep", "first", "digits-classifier", "gain", "ties", "nfe", "cands",
                                     "s"]
    rows = [line.split() for line in lines[header + 1 : header + 13]]
    assert [row[:2] for row in rows] == [[str(c), str(r)] for c in range(6) for r in (0, 1)]
    assert all(row[-3:-1] == ["112", "16"] and float(row[-1]) > 0 for row in rows)
    assert all(float(row[2]) <= float(row[3]) and row[4] == f"{float(row[3]) - float(row[2]):+.{len(row[3]) - 2}f}"
               for row in rows)  # the first plain draw, the chosen one, and the gain between them
    summary = json.loads((run_dir[0] / "summary.json").read_text())["results"]
    judged = (sum(r["verdict"] for r in summary), sum(r["first_verdict"] for r in summary))
    assert lines[header + 13] == f"the world's judge: chosen correct {judged[0]} of 12, first draw {judged[1]} of 12"
    assert lines[header + 14].startswith("search changed the answer in ")
    assert lines[header + 15].startswith("nfe_used 1344 in")


def test_json_lines_for_scripts_and_quiet_for_nothing(tmp_path, capsys):
    assert predict(tmp_path / "json", "--log_format", "json")
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["start"] + ["search"] * 6 + ["end"]
    assert events[0]["budget_nfe"] == 112 and events[-1]["nfe_used"] == 6 * 112
    assert {e["image"] for e in events[1:-1]} == {r["image"] for r in json.loads(
        (tmp_path / "json" / "summary.json").read_text())["results"]}
    assert predict(tmp_path / "quiet", "--quiet", "true")
    captured = capsys.readouterr()
    assert captured.out == "" and "searches" not in captured.err


def test_grid_has_a_labelled_row_per_condition_and_repeats_along_it(run_dir):
    from noisesearch.run.report import grid

    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    picture = np.asarray(Image.open(out / "grid.png").convert("L"))
    rows, header = 6, grid.CAPTION + grid.GUTTER
    cell_h = grid.TILE + grid.CAPTION + grid.GUTTER
    assert picture.shape[0] == header + rows * cell_h + grid.GUTTER
    for row in range(rows):
        top = header + row * cell_h
        label = picture[top : top + grid.FONT_SIZE + 4, : grid.GUTTER + 60]
        caption = picture[top + grid.TILE : top + cell_h - grid.GUTTER]
        assert (label < 128).any() and (caption < 128).any(), f"row {row} lacks its label or scores"
    first = summary["results"][1]  # class 0, repeat 1: the second tile of the first row
    tile = np.asarray(grid.tile(Image.open(out / first["image"])).convert("L"))
    right = picture.shape[1] - 2 * grid.GUTTER - grid.TILE
    assert np.array_equal(picture[header : header + grid.TILE, right : right + grid.TILE], tile)


def test_config_yaml_reruns_to_the_same_results(run_dir, tmp_path):
    out, _ = run_dir
    again = tmp_path / "again"
    assert main(["predict", "--config", str(out / "config.yaml"), "--out", str(again)]) == 0
    first = json.loads((out / "summary.json").read_text())["results"]
    second = json.loads((again / "summary.json").read_text())["results"]
    assert [(r["candidate"], r["score"]) for r in first] == [(r["candidate"], r["score"]) for r in second]


def test_batch_size_does_not_change_results(tmp_path):
    small = predict(tmp_path / "b1", "--model.batch_size", "5", "--data.batch_size", "1")  # 16 candidates: 5+5+5+1
    large = predict(tmp_path / "b32", "--model.batch_size", "32")
    for a, b in zip(small["results"], large["results"]):
        assert a["candidate"] == b["candidate"]
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        noise_a = load_file(tmp_path / "b1" / a["noise"])["noise"]
        noise_b = load_file(tmp_path / "b32" / b["noise"])["noise"]
        assert torch.equal(noise_a, noise_b)
        pixels_a = torch.from_numpy(np.array(Image.open(tmp_path / "b1" / a["image"]))).int()
        pixels_b = torch.from_numpy(np.array(Image.open(tmp_path / "b32" / b["image"]))).int()
        assert (pixels_a - pixels_b).abs().max() <= 1


def test_seed_changes_results(tmp_path):
    first = predict(tmp_path / "s0", "--model.algorithm", "none")
    second = predict(tmp_path / "s1", "--model.algorithm", "none", "--seed_everything", "1")
    assert second["seed"] == 1
    assert [r["score"] for r in first["results"]] != [r["score"] for r in second["results"]]


def test_recorded_noise_regenerates_the_image(run_dir):
    from noisesearch.plugin import RunSpec
    from helpers import solve
    from noisesearch_plugins.digits.pipeline import DigitsPipeline

    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    record = summary["results"][0]
    pipeline = DigitsPipeline()
    pipeline.configure(RunSpec(summary["steps"], summary["guidance"], 16, 16, summary["sampler"]))
    noise = load_file(out / record["noise"])["noise"][None]
    sigmas = pipeline.sigmas(summary["steps"])
    label = torch.tensor([record["condition"]["class_label"]])
    with torch.inference_mode():
        x0 = solve(pipeline.denoise, noise * sigmas[0], sigmas, label, summary["sampler"])
    pixels = (pipeline.decode(x0)[0, 0].clamp(0, 1) * 255).round()
    saved = torch.from_numpy(np.array(Image.open(out / record["image"]))).float()
    assert (pixels - saved).abs().max() <= 1
