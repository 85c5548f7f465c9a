"""The embedded shapes world end to end: pipeline ``shapes``, verifier ``shapes-clip``, evaluator ``shapes-eval``."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from noisesearch.conditions import Condition
from noisesearch.testing.verifiers import check_verifier
from noisesearch_plugins.shapes.captions import CATEGORIES, prompt_set, sample_caption, satisfied, scene_for
from noisesearch_plugins.shapes.scenes import render

from helpers import ROOT, run_cli


@pytest.mark.slow
def test_two_red_circles_as_a_new_user_asks_for_them(tmp_path):
    out = tmp_path / "run"
    result = run_cli("predict", "--model.pipeline", "shapes", "--data.prompts", '["two red circles"]',
                     "--model.algorithm", "random", "--model.budget_nfe", str(4 * 30), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["results"]
    assert summary["pipeline"] == "shapes" and summary["verifiers"] == ["shapes-clip"]
    assert summary["nfe_used"] == 4 * 30 and record["candidates"] == 4
    image = np.asarray(Image.open(out / record["image"]))
    assert image.shape == (32, 32, 3) and image.std() > 10  # an image of something, not a flat field
    from noisesearch_plugins.shapes.verifier import ShapesCLIPVerifier

    rescored = ShapesCLIPVerifier().score(torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255,
                                          [Condition(prompt="two red circles")])
    finished = [json.loads(line) for line in (out / "journal" / "rank0.jsonl").read_text().splitlines()]
    scores = {r["id"]: r["scores"]["shapes-clip"] for r in finished if r["type"] == "candidate" and r["stop"] == 0}
    nearest = min(scores, key=lambda i: abs(scores[i] - float(rescored)))  # 8-bit rounding of the PNG moves it a bit
    assert nearest == record["candidate"] and float(rescored) == pytest.approx(record["score"], abs=0.25)
    judged = subprocess.run([sys.executable, "-m", "noisesearch_plugins.shapes.evaluation", str(out)],
                            capture_output=True, text=True, check=True)
    report = json.loads(judged.stdout)
    (verdict,) = report["per_prompt"]
    assert verdict["category"] == "counting" and report["nfe_per_search"] == 4 * 30
    assert report["accuracy"] == {"accuracy:counting": float(verdict["correct"]), "accuracy": float(verdict["correct"])}
    from noisesearch_plugins.shapes.captions import parse
    from noisesearch_plugins.shapes.evaluation import evaluate_run

    for caption, expected in (("two red circles", True), ("three blue squares", False)):
        scene = scene_for(parse(caption), random.Random(4))  # drawn from the ground truth, not read by the reader
        Image.fromarray(render(scene)).save(out / record["image"])
        (verdict,) = evaluate_run(out)["per_prompt"]  # what the command above prints, on a known image
        assert verdict["correct"] is expected, caption
    usage = subprocess.run([sys.executable, "-m", "noisesearch_plugins.shapes.evaluation", str(tmp_path)],
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_search_with_shapes_clip_makes_prompts_come_true_more_often_than_plain_samples():
    """The testbed's point: the evaluator (never the verifier) sees the gain of search."""
    from noisesearch.api import search
    from noisesearch_plugins.shapes.evaluation import ShapesEvaluation

    prompts = [c.text for c in prompt_set(1, seed=3)]  # one prompt a category, 2 searches each
    judge = ShapesEvaluation()
    accuracy = {}
    for algorithm, budget in (("none", None), ("random", 4 * 30)):
        results = search(prompts=prompts, per_condition=2, seed=1, algorithm=algorithm, budget_nfe=budget,
                         pipeline="shapes")
        verdicts = judge.judge(torch.stack([r.image for r in results]), [r.task.condition for r in results])
        accuracy[algorithm] = np.mean([v for _, v in verdicts])
    assert accuracy["random"] > accuracy["none"]


def test_the_same_seed_gives_the_same_images_whatever_the_batch_size():
    from noisesearch.api import search

    runs = [search(prompts=["a red circle left of a square", "three crosses"], seed=4, algorithm="random",
                   budget_nfe=3 * 30, batch_size=size, pipeline="shapes") for size in (3, 32)]
    for first, second in zip(*runs):
        assert torch.equal(first.noise, second.noise)
        assert torch.allclose(first.image, second.image, atol=1e-5)


def test_shapes_eval_agrees_with_the_ground_truth_on_renders_against_own_and_other_captions():
    from noisesearch_plugins.shapes.evaluation import ShapesEvaluation

    rng = random.Random(2)
    captions = [sample_caption(category, rng) for category in CATEGORIES for _ in range(5)]
    scenes = [scene_for(c, rng, distractors=1) for c in captions]
    images = torch.stack([torch.from_numpy(render(s).copy()).permute(2, 0, 1).float() / 255 for s in scenes])
    judge = ShapesEvaluation()
    own = judge.judge(images, [Condition(prompt=c.text) for c in captions])
    assert [category for category, _ in own] == [c.category for c in captions]
    assert np.mean([correct for _, correct in own]) >= 0.9
    others = captions[5:] + captions[:5]  # each scene against a caption of another category
    verdicts = judge.judge(images, [Condition(prompt=c.text) for c in others])
    truth = [satisfied(scene, caption) for scene, caption in zip(scenes, others)]
    assert np.mean([v == t for (_, v), t in zip(verdicts, truth)]) >= 0.9 and not all(truth)
    assert judge.judge(images[:1], [Condition(prompt="a circle near a square")]) == [("outside_grammar", None)]


def test_shapes_clip_is_a_verifier_that_knows_its_captions():
    from noisesearch_plugins.shapes.verifier import ShapesCLIPVerifier

    verifier = ShapesCLIPVerifier()
    captions = [sample_caption(category, random.Random(i)) for i, category in enumerate(CATEGORIES)]
    rng = random.Random(5)
    images = torch.stack([torch.from_numpy(render(scene_for(c, rng)).copy()).permute(2, 0, 1).float() / 255
                          for c in captions])
    check_verifier(verifier, [Condition(prompt=c.text) for c in captions], images)
    own = verifier.score(images, [Condition(prompt=c.text) for c in captions])
    others = verifier.score(images, [Condition(prompt=c.text) for c in captions[1:] + captions[:1]])
    assert (own > others).float().mean() >= 5 / 6


def test_self_supervised_uses_shapes_clip_features_on_previews_by_default_offline(in_process, tmp_path):
    import noisesearch

    out = tmp_path / "run"
    result = in_process("predict", "--model.pipeline", "shapes", "--data.prompts", '["a blue circle"]',
                        "--model.algorithm", "random", "--model.budget_nfe", str(4 * 30),
                        "--model.verifiers", '["self-supervised"]', "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = json.loads((out / "summary.json").read_text())["results"]
    (spelled_out,) = noisesearch.search(prompts=["a blue circle"], pipeline="shapes", algorithm="random",
                                        budget_nfe=4 * 30, verifiers=["self-supervised:shapes-clip"])
    assert 0.0 < spelled_out.score <= 1.0 + 1e-6
    assert record["candidate"] == spelled_out.candidate and record["score"] == pytest.approx(spelled_out.score)


@pytest.mark.slow
def test_self_supervised_without_a_world_of_its_own_names_local_specs_offline(tmp_path):
    result = run_cli("predict", "--model.pipeline", "toy-class", "--data.classes", "0",
                     "--model.verifiers", '["self-supervised"]', "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("noisesearch: error")]
    assert "self-supervised:clip:local-dir:" in line and "self-supervised:dino:" in line
    assert "ERROR" not in result.stderr, "the library's own download failure leaked to the terminal"


@pytest.mark.parametrize("args, message", [
    (["--data.prompts", '["a red dog"]'], "words the shapes model never saw: 'dog'"),
    (["--data.prompts", '["a red circle"]', "--model.height", "64"], "32x32 images only"),
    (["--data.classes", "3"], "prompt-conditional and got a class"),
])
def test_bad_input_is_one_line_and_exit_2(in_process, tmp_path, args, message):
    result = in_process("predict", "--model.pipeline", "shapes", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
def test_the_training_command_writes_a_world_the_cli_loads(tmp_path):
    """The one training command, shrunk to seconds: its folder is a pipeline, a verifier and a reader."""
    from noisesearch_plugins.shapes.training import train

    out = tmp_path / "world"
    figures = train(out=out, diffusion_steps=2, batch_size=8, reader_samples=300, reader_epochs=1, clip_steps=2,
                    clip_batch_size=16, detector_steps=2, detector_batch_size=4)
    assert {"reader_train_s", "clip_train_s", "diffusion_train_s", "reader_shape_accuracy",
            "detector_train_s"} <= set(figures)
    from noisesearch_plugins.verifiers.detector import ZeroShotDetector

    found = ZeroShotDetector(str(out / "detector")).detect(torch.rand(2, 3, 32, 32), [("circle",), ("cross",)])
    assert [list(f) for f in found] == [["circle"], ["cross"]]
    assert json.loads((out / "training.json").read_text()) == figures
    run = tmp_path / "run"
    result = run_cli("predict", "--model.pipeline", str(out), "--data.prompts", '["a square above a cross"]',
                     "--model.algorithm", "random", "--model.budget_nfe", str(2 * 30), "--model.verifiers",
                     f'["shapes-clip:local-dir:{out / "clip"}"]', "--out", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["nfe_used"] == 60


def test_bench_reports_shapes_eval_accuracy_per_category(in_process, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\ntwo squares\n")
    study = tmp_path / "study.yaml"
    study.write_text(f"pipeline: shapes\nprompts_file: {prompts}\nper_condition: 2\nbudgets: [60]\n"
                     "algorithms: [{name: random}, {name: random, verifiers: [[self-supervised:shapes-clip]]}]\n"
                     "verifiers: [[shapes-clip]]\n")
    result = in_process("bench", "--config", str(study), "--out", str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr[-2000:]
    row, driven = json.loads((tmp_path / "bench" / "results.json").read_text())
    # self-supervised drives its cell but cannot score finished images (it needs their previews): never a scorer of
    # the other cell; in its own, its score is the chosen candidates' own, as the search made it
    assert driven["drove"] == ["self-supervised"] and "verifier:self-supervised" not in row["metrics"]
    summary = json.loads((tmp_path / "bench" / "cells" / driven["cell"] / "summary.json").read_text())
    assert driven["per_search"]["verifier:self-supervised"] == [r["scores"]["self-supervised"]
                                                                  for r in summary["results"]]
    assert "verifier:shapes-clip" in driven["metrics"] and "accuracy" in driven["metrics"]
    assert {"accuracy", "accuracy:colours", "accuracy:counting", "verifier:shapes-clip"} <= set(row["metrics"])
    assert "fid" not in row["metrics"]
    assert row["metrics"]["accuracy"] == pytest.approx(
        (row["metrics"]["accuracy:colours"] + row["metrics"]["accuracy:counting"]) / 2)


def test_the_shipped_prompt_set_is_the_documented_one():
    lines = (ROOT / "configs" / "bench" / "shapes-prompts.txt").read_text().splitlines()
    assert lines == [c.text for c in prompt_set(4, seed=0)]
