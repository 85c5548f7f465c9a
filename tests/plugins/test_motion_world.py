"""The embedded motion world end to end: pipeline ``motion``, verifier ``motion-clip``, evaluator ``motion-eval``."""

import json
import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.testing.verifiers import check_verifier
from noisesearch_plugins.motion.captions import CATEGORIES, clip_for, parse, prompt_set, sample_caption
from noisesearch_plugins.motion.movers import FRAMES, Clip, render_clip
from noisesearch_plugins.motion.rules import aspects, satisfied

from helpers import ROOT


def as_tensor(clips: list[Clip]) -> torch.Tensor:
    """Rendered clips (B, F, 3, 32, 32) in [0, 1]."""
    return torch.stack([torch.from_numpy(render_clip(c).copy()).permute(0, 3, 1, 2).float() / 255 for c in clips])


def truth(clip: Clip) -> list:
    return [clip.frame(i) for i in range(FRAMES)]


def test_every_caption_parses_back_and_the_clips_drawn_for_it_meet_it():
    rng = random.Random(0)
    for category in CATEGORIES:
        for _ in range(40):
            caption = sample_caption(category, rng)
            assert parse(caption.text) == caption and caption.category == category
            assert satisfied(truth(clip_for(caption, rng, distractors=1)), caption), caption.text
    with pytest.raises(ValueError, match="outside the motion grammar"):
        parse("a red circle moving sideways")


def test_the_rules_fail_each_aspect_a_clip_gets_wrong():
    rng = random.Random(3)
    right = parse("a red circle moving right")
    clip = clip_for(right, rng)
    (mover,) = clip.movers
    cases = {
        "a red circle moving left": "direction",
        "a red circle moving down": "direction",
        "a blue circle moving right": "objects",
        "two red circles moving right": "objects",
        "a red circle standing still": "extent",
    }
    for text, aspect in cases.items():
        assert aspects(truth(clip), parse(text))[aspect] is False, text
    fast = Clip((replace(mover, x=0.15, dx=0.45),))
    slow = Clip((replace(mover, x=0.15, dx=0.18),))
    assert satisfied(truth(fast), parse("a red circle moving right quickly"))
    assert not aspects(truth(slow), parse("a red circle moving right quickly"))["extent"]
    assert satisfied(truth(slow), parse("a red circle moving right slowly"))
    apart = clip_for(parse("two squares moving apart"), rng)
    assert satisfied(truth(apart), parse("two squares moving apart"))
    assert not satisfied(truth(apart), parse("two squares moving together"))


def test_motion_eval_reads_rendered_clips_as_the_ground_truth_does():
    from noisesearch_plugins.motion.evaluation import MotionEvaluation

    rng = random.Random(2)
    captions = [sample_caption(category, rng) for category in CATEGORIES for _ in range(4)]
    clips = [clip_for(c, rng, distractors=1 if c.count == 1 else 0) for c in captions]
    judge = MotionEvaluation()
    own = judge.judge(as_tensor(clips), [Condition(prompt=c.text) for c in captions])
    assert [category for category, _ in own] == [c.category for c in captions]
    assert np.mean([correct for _, correct in own]) >= 0.9
    others = captions[4:] + captions[:4]  # each clip against a caption of another category
    verdicts = judge.judge(as_tensor(clips), [Condition(prompt=c.text) for c in others])
    expected = [satisfied(truth(clip), caption) for clip, caption in zip(clips, others)]
    assert np.mean([v == t for (_, v), t in zip(verdicts, expected)]) >= 0.9 and not all(expected)
    reversed_clips = as_tensor(clips).flip(1)  # played backwards: every moving clip now goes the other way
    moving = [i for i, c in enumerate(captions) if c.category in ("direction", "speed", "count", "apart")]
    backwards = judge.judge(reversed_clips[moving], [Condition(prompt=captions[i].text) for i in moving])
    assert np.mean([correct for _, correct in backwards]) <= 0.1
    assert judge.judge(reversed_clips[:1], [Condition(prompt="a red dog")]) == [("outside_grammar", None)]


def test_motion_clip_watches_the_clip_and_knows_its_captions():
    from noisesearch.errors import UsageError
    from noisesearch_plugins.motion.verifier import MotionCLIPVerifier

    verifier = MotionCLIPVerifier()
    rng = random.Random(5)
    captions = [sample_caption(category, rng) for category in CATEGORIES for _ in range(2)]
    clips = as_tensor([clip_for(c, rng) for c in captions])
    check_verifier(verifier, [Condition(prompt=c.text) for c in captions], clips)
    own = verifier.score(clips, [Condition(prompt=c.text) for c in captions])
    backwards = verifier.score(clips.flip(1), [Condition(prompt=c.text) for c in captions])
    moving = torch.tensor([c.category != "still" for c in captions])
    assert (own[moving] > backwards[moving]).float().mean() >= 0.75  # it sees which way things go
    with pytest.raises(UsageError, match="judges clips of 6 frames"):
        verifier.score(clips[:, 0], [Condition(prompt=captions[0].text)])


def test_a_motion_search_as_a_user_asks_for_it(in_process, tmp_path):
    from noisesearch_plugins.motion.evaluation import evaluate_run

    out = tmp_path / "run"
    result = in_process("predict", "--model.pipeline", "motion", "--data.prompts", '["a red circle moving right"]',
                        "--model.algorithm", "random", "--model.budget_nfe", str(4 * 30), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["results"]
    assert summary["pipeline"] == "motion" and summary["verifiers"] == ["motion-clip"]
    assert record["candidates"] == 4 and (out / record["video"]).is_file() and (out / record["animation"]).is_file()
    assert "chosen correct" in result.stdout  # the world's judge in the headline
    report = evaluate_run(out)  # what `python -m noisesearch_plugins.motion.evaluation OUT` prints
    (verdict,) = report["per_prompt"]
    assert verdict["category"] == "direction" and set(report["aspects"]) == {"objects", "direction", "extent"}
    assert report["accuracy"]["accuracy"] == float(verdict["correct"])


def test_the_same_seed_gives_the_same_clips_whatever_the_batch_size():
    from noisesearch.api import search

    runs = [search(prompts=["two circles moving apart"], seed=4, algorithm="random", budget_nfe=3 * 30,
                   batch_size=size, pipeline="motion") for size in (2, 3)]
    for first, second in zip(*runs):
        assert first.image.shape == (FRAMES, 3, 32, 32) and torch.equal(first.noise, second.noise)
        assert torch.allclose(first.image, second.image, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--data.prompts", '["a red dog running"]'], "words the motion model never saw: 'dog', 'running'"),
    (["--data.prompts", '["a red circle rising"]', "--model.frames", "8"], "clips of 6 frames only"),
    (["--data.prompts", '["a red circle rising"]', "--model.width", "64"], "32x32 images only"),
])
def test_bad_input_is_one_line_and_exit_2(in_process, tmp_path, args, message):
    result = in_process("predict", "--model.pipeline", "motion", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
def test_the_training_command_writes_a_world_the_cli_loads(in_process, tmp_path):
    """The one training command, shrunk to seconds: its folder is a pipeline and a verifier."""
    from noisesearch_plugins.motion.training import train

    out = tmp_path / "world"
    figures = train(out=out, diffusion_steps=2, batch_size=4, clip_steps=2, clip_batch_size=8)
    assert {"clip_train_s", "diffusion_train_s"} <= set(figures) and figures["diffusion"]["steps"] == 2
    assert json.loads((out / "training.json").read_text()) == figures
    more = train(out=out, parts=["diffusion"], diffusion_steps=3, batch_size=4, diffusion_seed=1, diffusion_init=out)
    assert more["diffusion"]["steps"] == 3 and more["diffusion"]["after"] == figures["diffusion"]  # a second stage
    assert more["clip"] == figures["clip"]  # the other part's figures stay
    with pytest.raises(SystemExit, match="holds no trained denoiser"):
        train(out=tmp_path / "other", parts=["diffusion"], diffusion_steps=1, batch_size=2,
              diffusion_init=out / "clip")
    run = tmp_path / "run"
    result = in_process("predict", "--model.pipeline", str(out), "--data.prompts", '["two squares moving together"]',
                        "--model.algorithm", "random", "--model.budget_nfe", str(2 * 30), "--model.verifiers",
                        f'["motion-clip:local-dir:{out / "clip"}"]', "--out", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["nfe_used"] == 60


def test_the_shipped_prompt_set_is_the_documented_one():
    lines = (ROOT / "configs" / "bench" / "motion-prompts.txt").read_text().splitlines()
    assert lines == [c.text for c in prompt_set(5, seed=11)]


def test_bench_judges_motion_cells_and_measures_diversity_on_whole_clips(in_process, tmp_path):
    """bench on clips: motion-eval's accuracy per category, and diversity on motion-clip's features of whole clips."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle moving right\ntwo squares moving apart\n")
    study = tmp_path / "study.yaml"
    study.write_text(f"pipeline: motion\nprompts_file: {prompts}\nper_condition: 2\nbudgets: [60]\n"
                     "algorithms: [{name: random}]\nverifiers: [[motion-clip]]\n")
    result = in_process("bench", "--config", str(study), "--out", str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert {"accuracy", "accuracy:direction", "accuracy:apart", "verifier:motion-clip"} <= set(row["metrics"])
    assert row["health"]["vendi_features"] == "motion-clip" and row["health"]["vendi"] >= 1.0
    assert len(row["per_search"]["verifier:motion-clip"]) == 4
