"""geneval: GenEval's requirements and rules on known objects, a tiny OWLv2 and open_clip saved like hub checkpoints."""

import json

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.store.folder import RunDir
from noisesearch_plugins.testing import tiny_models
from noisesearch.testing.verifiers import PROMPTS, VerifierSuite, sample_images
from noisesearch_plugins.verifiers.geneval import ColorClassifier, GenEvalVerifier
from noisesearch_plugins.verifiers.geneval_requirements import (COLORS, from_metadata, parse_prompt, read_metadata,
                                                                singular)
from noisesearch_plugins.verifiers.geneval_rules import Detection, Thresholds, relations, soft_score, verdict

# one prompt per GenEval category with the metadata GenEval's evaluation_metadata.jsonl gives it
GENEVAL = [
    {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"},
    {"tag": "two_object", "include": [{"class": "cup", "count": 1}, {"class": "teddy bear", "count": 1}],
     "prompt": "a photo of a cup and a teddy bear"},
    {"tag": "counting", "include": [{"class": "giraffe", "count": 4}], "exclude": [{"class": "giraffe", "count": 5}],
     "prompt": "a photo of four giraffes"},
    {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"},
    {"tag": "position", "include": [{"class": "teddy bear", "count": 1},
                                    {"class": "dog", "count": 1, "position": ["right of", 0]}],
     "prompt": "a photo of a dog right of a teddy bear"},
    {"tag": "color_attr", "include": [{"class": "umbrella", "count": 1, "color": "purple"},
                                      {"class": "bench", "count": 1, "color": "green"}],
     "prompt": "a photo of a purple umbrella and a green bench"},
]
LIMITS = Thresholds(confidence=0.3, counting=0.9, overlap=0.5, position=0.1)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("geneval")
    return {"owl": tiny_models.save_tiny_owlv2(root / "owlv2"),
            "clip": f"local-dir:{tiny_models.save_tiny_open_clip(root / 'open-clip')}"}


@pytest.mark.parametrize("entry", GENEVAL, ids=[e["tag"] for e in GENEVAL])
def test_prompts_in_genevals_forms_parse_to_its_metadata(entry):
    assert parse_prompt(entry["prompt"]) == from_metadata(entry)


def test_plurals_numbers_and_the_shapes_worlds_prompts():
    assert [singular(w) for w in ("mice", "buses", "benches", "wine glasses", "teddy bears", "skis", "ponies")] == [
        "mouse", "bus", "bench", "wine glass", "teddy bear", "skis", "pony"]
    counting = parse_prompt("two red circles")
    assert (counting.tag, counting.include[0].name, counting.include[0].color, counting.exclude[0].count) == (
        "counting", "circle", "red", 3)
    above = parse_prompt("a green triangle above a yellow star")
    assert above.tag == "position" and [w.name for w in above.include] == ["star", "triangle"]
    assert above.include[1].relation == "above" and above.include[1].target == 0
    for bad in ("a cat, a dog and a cow", "cats sitting", "a photo of three", ""):
        with pytest.raises(ValueError):
            parse_prompt(bad)


def test_a_metadata_line_that_does_not_parse_is_named(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(e) for e in GENEVAL) + "\n")
    assert read_metadata(str(good))["a photo of four giraffes"] == from_metadata(GENEVAL[2])
    for line, problem in ((json.dumps({**GENEVAL[0], "tag": "size"}), "tag 'size'"),
                          (json.dumps({**GENEVAL[3], "include": [{"class": "car", "color": "mauve"}]}), "'mauve'"),
                          (json.dumps({**GENEVAL[4], "include": [{"class": "dog", "position": ["near", 0]}]}),
                           "position must be"),
                          ("{not json", "")):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps(GENEVAL[0]) + "\n" + line + "\n")
        with pytest.raises(UsageError, match=rf"bad.jsonl:2: .*{problem}"):
            read_metadata(str(bad))


def test_a_jsonl_prompts_file_gives_each_lines_prompt_and_names_a_bad_line(tmp_path):
    from noisesearch.run.tasks import read_prompts

    good = tmp_path / "metadata.jsonl"
    good.write_text("\n".join(json.dumps(e) for e in GENEVAL[:2]) + "\n\n")
    assert read_prompts(str(good)) == ["a photo of a bench", "a photo of a cup and a teddy bear"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GENEVAL[0]) + "\n" + json.dumps({"tag": "colors"}) + "\n")
    with pytest.raises(UsageError, match=r"bad.jsonl:2: expected a JSON object with a \"prompt\" string"):
        read_prompts(str(bad))


def box(left, top, size=10):
    return (left, top, left + size, top + size)


def test_relations_follow_genevals_geometry_worked_by_hand():
    a, b = Detection(box(0, 0), 1), Detection(box(30, 0), 1)
    # centre offset -30 along x, sizes 10 + 10: shrunk by 0.1 * 20 to -28; -28/30 < -0.5, and no vertical offset
    assert relations(a, b, 0.1) == {"left of"} and relations(b, a, 0.1) == {"right of"}
    # offset (-12, -16): shrunk to (-10, -14), over |offset| 20 gives (-0.5, -0.7): above only (-0.5 is not < -0.5)
    assert relations(Detection(box(0, 0), 1), Detection(box(12, 16), 1), 0.1) == {"above"}
    assert relations(a, Detection(box(1, 0), 1), 0.1) == set()  # centres closer than the objects' sizes allow


def test_verdicts_on_known_objects():
    bear, right = Detection(box(0, 40), 0.8), Detection(box(60, 40), 0.7)
    position = from_metadata(GENEVAL[4])
    assert verdict(position, {"teddy bear": [bear], "dog": [right]}, LIMITS)
    assert not verdict(position, {"teddy bear": [right], "dog": [bear]}, LIMITS)
    assert not verdict(position, {"teddy bear": [Detection(bear.box, 0.2)], "dog": [right]}, LIMITS)  # unconfident

    counting = from_metadata(GENEVAL[2])
    four = [Detection(box(20 * i, 0), 0.95) for i in range(4)]
    assert verdict(counting, {"giraffe": four}, LIMITS)
    assert not verdict(counting, {"giraffe": four + [Detection(box(0, 50), 0.91)]}, LIMITS)  # five: excluded
    assert verdict(counting, {"giraffe": four + [Detection(box(0, 50), 0.5)]}, LIMITS)  # below counting threshold
    assert not verdict(counting, {"giraffe": four[:3] + [Detection(box(60, 0), 0.8)]}, LIMITS)
    duplicate = Detection((1, 1, 11, 11), 0.93)  # IoU 0.68 with the first: suppressed
    assert not verdict(counting, {"giraffe": four[:3] + [duplicate]}, LIMITS)

    def colored(color, score=0.9, left=0):
        probabilities = [0.02] * len(COLORS)
        probabilities[COLORS.index(color)] = 0.82
        return Detection(box(left, 0), score, tuple(probabilities))

    colors = from_metadata(GENEVAL[5])
    assert verdict(colors, {"umbrella": [colored("purple")], "bench": [colored("green", left=50)]}, LIMITS)
    assert not verdict(colors, {"umbrella": [colored("purple")], "bench": [colored("blue", left=50)]}, LIMITS)
    assert not verdict(colors, {"umbrella": [colored("purple")], "bench": []}, LIMITS)


def test_the_soft_score_worked_by_hand():
    colors = from_metadata(GENEVAL[5])
    umbrella = Detection(box(0, 0), 0.6, tuple(0.82 if c == "purple" else 0.02 for c in COLORS))
    bench = Detection(box(50, 0), 0.5, tuple(0.5 if c in ("green", "blue") else 0.0 for c in COLORS))
    assert soft_score(colors, {"umbrella": [umbrella], "bench": [bench]}, LIMITS) == pytest.approx(
        (0.6 * 0.82 + 0.5 * 0.5) / 2)
    counting = from_metadata(GENEVAL[2])
    giraffes = [Detection(box(20 * i, 0), s) for i, s in enumerate((0.9, 0.8, 0.7, 0.6, 0.4))]
    assert soft_score(counting, {"giraffe": giraffes}, LIMITS) == pytest.approx((0.6 + (1 - 0.4)) / 2)
    position = from_metadata(GENEVAL[4])
    found = {"teddy bear": [Detection(box(0, 0), 0.9)], "dog": [Detection(box(40, 0), 0.7)]}
    assert soft_score(position, found, LIMITS) == pytest.approx((0.9 + 0.7) / 2)
    found["dog"] = [Detection(box(0, 40), 0.7)]  # below the bear, not right of it
    assert soft_score(position, found, LIMITS) == pytest.approx(0.9 / 2)


def test_detections_are_the_detectors_own_post_processed_boxes(parts):
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    verifier = GenEvalVerifier(f"detector={parts['owl']},clip={parts['clip']}")
    images = sample_images(2, size=48)[:, :, :40]  # not square: OWLv2 pads to the longer side
    found = verifier.detector.detect(images, [("cat",), ("cat",)], top=5)
    processor = AutoProcessor.from_pretrained(parts["owl"])
    model = AutoModelForZeroShotObjectDetection.from_pretrained(parts["owl"]).eval()
    inputs = processor(text=[["a photo of a cat"]] * 2, images=list(images), return_tensors="pt", do_rescale=False)
    with torch.no_grad():
        outputs = model(**inputs)
    expected = processor.post_process_grounded_object_detection(outputs, threshold=0.0, target_sizes=[(48, 48)] * 2)
    for ours, theirs in zip(found, expected):
        order = theirs["scores"].argsort(descending=True, stable=True)[:5]
        assert torch.allclose(torch.tensor([d.score for d in ours["cat"]]), theirs["scores"][order], atol=1e-6)
        assert torch.allclose(torch.tensor([d.box for d in ours["cat"]]), theirs["boxes"][order], atol=1e-4)


def test_colours_are_clip_zero_shot_over_genevals_templates(parts):
    import open_clip
    import torch.nn.functional as F

    classifier = ColorClassifier(parts["clip"])
    image = sample_images(1, size=40)[0]
    probabilities = classifier.probabilities(image, [(4, 8, 20, 30)], "car")
    model, tokenizer = classifier.clip.model, open_clip.get_tokenizer(parts["clip"])
    with torch.no_grad():
        rows = []
        for color in COLORS:
            texts = [f"a photo of a {color} car", f"a photo of a {color}-colored car", f"a photo of a {color} object"]
            rows.append(F.normalize(model.encode_text(tokenizer(texts)).float(), dim=-1).mean(0))
        weights = F.normalize(torch.stack(rows), dim=-1)
        crop = image[None, :, 8:30, 4:20]
        feature = F.normalize(model.encode_image(classifier.clip.input(crop)).float(), dim=-1)
    assert torch.allclose(probabilities, (100 * feature @ weights.T).softmax(-1), atol=1e-5)


def test_the_verifier_scores_verdict_plus_soft_score(parts):
    verifier = GenEvalVerifier(f"detector={parts['owl']},clip={parts['clip']},threshold=0.5,counting_threshold=0.5")
    images = sample_images(6)
    conditions = [Condition(prompt=p) for p in PROMPTS]
    scores = verifier.score(images, conditions)
    asked = [verifier.requirements(p) for p in PROMPTS]
    found = verifier.detections(images, asked)
    judged = verifier.evaluation().judge(images, conditions)
    for score, wants, objects, (tag, correct) in zip(scores.tolist(), asked, found, judged):
        assert tag == wants.tag and correct == verdict(wants, objects, verifier.limits)
        assert score == pytest.approx(float(correct) + soft_score(wants, objects, verifier.limits), abs=1e-6)
    assert len({tag for tag, _ in judged}) >= 4


class TestGenEvalConformance(VerifierSuite):
    parts = None

    def make_verifier(self):
        return GenEvalVerifier(f"detector={self.parts['owl']},clip={self.parts['clip']}")

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def saved(cls, tmp_path_factory):
        root = tmp_path_factory.mktemp("geneval-conformance")
        cls.parts = {"owl": tiny_models.save_tiny_owlv2(root / "owlv2"),
                     "clip": f"local-dir:{tiny_models.save_tiny_open_clip(root / 'open-clip')}"}


def test_bad_specs_are_one_line_errors(parts, models, tmp_path):
    with pytest.raises(UsageError, match="threshold='high'"):
        GenEvalVerifier(f"detector={parts['owl']},threshold=high")
    with pytest.raises(UsageError, match="could not load detector"):
        GenEvalVerifier(f"detector={models['clip']},clip={parts['clip']}")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for file in parts["owl"].iterdir():
        if file.name != "config.json":
            (damaged / file.name).write_bytes(file.read_bytes())
    with pytest.raises(UsageError, match="has no config.json"):
        GenEvalVerifier(f"detector={damaged},clip={parts['clip']}")
    verifier = GenEvalVerifier(f"detector={parts['owl']},clip={parts['clip']}")
    with pytest.raises(UsageError, match="cannot read what 'cats sitting' asks for"):
        verifier.score(sample_images(1), [Condition(prompt="cats sitting")])
    assert verifier.evaluation().judge(sample_images(1), [Condition(prompt="cats sitting")]) == [("unparsed", None)]


def test_geneval_drives_a_search_and_judges_a_bench(parts, in_process, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    entries = [{"tag": "colors", "include": [{"class": "circle", "count": 1, "color": "red"}], "prompt": "a red circle"},
               {"tag": "counting", "include": [{"class": "square", "count": 2}],
                "exclude": [{"class": "square", "count": 3}], "prompt": "two squares"}]
    prompts.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    spec = f"geneval:detector={parts['owl']},clip={parts['clip']},metadata={prompts}"
    study = tmp_path / "study.yaml"  # geneval drives the searches and judges the bench
    study.write_text(json.dumps({"pipeline": "shapes", "prompts_file": str(prompts), "per_condition": 2,
                                 "algorithms": [{"name": "random"}], "verifiers": [[spec]], "budgets": [60],
                                 "evaluator": spec}))
    from noisesearch.cli import main

    assert main(["bench", "--config", str(study), "--out", str(tmp_path / "bench")]) == 0
    (row,) = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert {"accuracy", "accuracy:colors", "accuracy:counting"} <= set(row["metrics"]) and row["drove"] == ["geneval"]
    summary = json.loads((tmp_path / "bench" / "cells" / row["cell"] / "summary.json").read_text())
    assert [r["condition"]["prompt"] for r in summary["results"]] == ["a red circle"] * 2 + ["two squares"] * 2
    assert all(0 <= r["scores"]["geneval"] <= 2 for r in summary["results"])
    images, conditions, _ = RunDir(tmp_path / "bench" / "cells" / row["cell"]).load_images()
    judged = GenEvalVerifier(spec.partition(":")[2]).evaluation().judge(images, conditions)
    by_tag = {tag: [correct for t, correct in judged if t == tag] for tag in ("colors", "counting")}
    assert [len(v) for v in by_tag.values()] == [2, 2]
    for tag, verdicts in by_tag.items():
        assert row["metrics"][f"accuracy:{tag}"] == pytest.approx(sum(verdicts) / 2)

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(entries[0]) + "\n" + json.dumps({**entries[1], "tag": "sizes"}) + "\n")
    done = in_process("predict", "--model.pipeline", "shapes", "--data.prompts", '["a red circle"]', "--model.verifiers",
                   json.dumps([f"geneval:detector={parts['owl']},clip={parts['clip']},metadata={bad}"]),
                   "--out", str(tmp_path / "refused"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}:2: tag 'sizes'" in done.stderr


def test_on_shapes_images_with_known_objects_geneval_agrees_with_the_ground_truth():
    """The embedded shapes-owl detector and shapes-clip colours, on noisy renders of scenes whose objects are known:
    geneval's verdicts against the verdicts of the true scenes, on held-out scenes (the threshold was chosen on seed
    7); a detector with random weights agrees about as often as a coin."""
    from noisesearch_plugins.shapes.evaluation import geneval_agreement
    from noisesearch_plugins.shapes.training.detector import DETECTOR_FOLDER

    table = geneval_agreement(DETECTOR_FOLDER, seed=11, per_category=25, options="threshold=0.2,counting_threshold=0.2")
    assert table["overall"] >= 0.7 and min(table.values()) >= 0.5, table
