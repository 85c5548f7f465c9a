"""vqascore: tiny LLaVA and Qwen2-VL folders saved like hub checkpoints, scored against a hand computation."""

import json

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch_plugins.testing import tiny_models
from noisesearch.testing.verifiers import PROMPTS, VerifierSuite, check_batch_invariant, sample_images
from noisesearch_plugins.verifiers.vqascore import VQAScoreVerifier

QUESTION = 'Does this figure show "{}"? Please answer yes or no.'


@pytest.fixture(scope="module")
def vlms(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlms")
    return {"llava": tiny_models.save_tiny_llava(root / "llava"),
            "qwen2-vl": tiny_models.save_tiny_qwen2_vl(root / "qwen2-vl"),
            "bare": tiny_models.save_tiny_llava(root / "bare", chat_template=None),
            "paligemma": tiny_models.save_tiny_paligemma(root / "paligemma")}


def answer_log_probability(logits, start, answer):
    """The summed log-probabilities of the answer's tokens from ``start`` on, each read at the position before it."""
    return sum(float(logits[start + i - 1].log_softmax(-1)[token]) for i, token in enumerate(answer))


def by_hand(folder, family, image, prompt):
    """log P(Yes) from the family's prompt format written out, one image, no padding."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    if family == "llava":
        text, answer = f"USER: <image>\n{QUESTION.format(prompt)} ASSISTANT: Yes", " Yes"
    else:
        text = ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" + QUESTION.format(prompt)
                + "<|im_end|>\n<|im_start|>assistant\nYes")
        answer = "Yes"
    answer_ids = processor.tokenizer(answer, add_special_tokens=False)["input_ids"]
    inputs = processor(text=[text], images=[image], return_tensors="pt", do_rescale=False)
    ids = inputs["input_ids"][0]
    assert ids[-len(answer_ids):].tolist() == answer_ids
    with torch.no_grad():
        logits = model(**inputs).logits[0].float()
    return answer_log_probability(logits, len(ids) - len(answer_ids), answer_ids)


@pytest.mark.parametrize("family", ["llava", "qwen2-vl"])
def test_the_score_is_the_models_own_yes_log_probability(vlms, family):
    verifier = VQAScoreVerifier(str(vlms[family]))
    images = sample_images(4, size=40)
    conditions = [Condition(prompt=p) for p in PROMPTS[:4]]
    scores = verifier.score(images, conditions)
    expected = torch.tensor([by_hand(vlms[family], family, image, c.prompt) for image, c in zip(images, conditions)])
    assert torch.allclose(scores, expected, atol=1e-4), (scores, expected)
    assert len(set(scores.tolist())) == 4  # each image and prompt gets its own probability


@pytest.mark.parametrize("family", ["llava", "qwen2-vl"])
def test_the_prompt_is_the_processors_own_chat_template_plus_the_answer(vlms, family):
    from transformers import AutoProcessor

    verifier = VQAScoreVerifier(str(vlms[family]))
    processor = AutoProcessor.from_pretrained(vlms[family])
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION.format("a cat")}]}]
    head = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    text, answer_tokens = verifier._chat_prompt("a cat")
    assert text == head + (" Yes" if family == "llava" else "Yes")
    assert answer_tokens == processor.tokenizer(text[len(head):], add_special_tokens=False)["input_ids"]


def test_options_change_the_question_and_answer(vlms):
    plain = VQAScoreVerifier(str(vlms["qwen2-vl"]))
    asked = VQAScoreVerifier(f"model={vlms['qwen2-vl']},question=Is this {{prompt}}?,answer=No")
    text, _ = asked._chat_prompt("a cat")
    assert "Is this a cat?" in text and text.endswith("assistant\nNo")
    images = sample_images(2)
    conditions = [Condition(prompt="a cat")] * 2
    assert not torch.allclose(plain.score(images, conditions), asked.score(images, conditions))


def test_gradients_reach_the_pixels_and_bf16_stays_close(vlms):
    verifier = VQAScoreVerifier(str(vlms["qwen2-vl"]))
    assert verifier.differentiable
    images = sample_images(2).requires_grad_(True)
    conditions = [Condition(prompt=p) for p in PROMPTS[:2]]
    verifier.score(images, conditions).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    half = VQAScoreVerifier(f"model={vlms['qwen2-vl']},dtype=bf16")
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        reference, low = verifier.score(images, conditions), half.score(images, conditions)
    assert low.dtype == torch.float32 and torch.allclose(reference, low, atol=0.1)


def test_a_processor_without_a_chat_template_needs_one(vlms, tmp_path):
    with pytest.raises(UsageError, match="has no chat template; give one: vqascore:model=.*template=FILE.jinja"):
        VQAScoreVerifier(str(vlms["bare"]))
    template = tmp_path / "llava.jinja"
    template.write_text(tiny_models.LLAVA_CHAT_TEMPLATE)
    given = VQAScoreVerifier(f"model={vlms['bare']},template={template}")
    reference = VQAScoreVerifier(str(vlms["llava"]))
    images, conditions = sample_images(2), [Condition(prompt=p) for p in PROMPTS[:2]]
    assert given._chat_prompt("a cat") == reference._chat_prompt("a cat")
    assert torch.allclose(given.score(images, conditions), reference.score(images, conditions))


def test_a_prefix_lm_takes_the_answer_as_its_suffix(vlms, tmp_path):
    """PaliGemma: no chat template (one is given), the answer attends causally after the processor's newline."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with pytest.raises(UsageError, match="has no chat template"):
        VQAScoreVerifier(str(vlms["paligemma"]))
    template = tmp_path / "paligemma.jinja"
    template.write_text(tiny_models.PALIGEMMA_TEMPLATE)
    verifier = VQAScoreVerifier(f"model={vlms['paligemma']},template={template}")
    images, conditions = sample_images(3, size=40), [Condition(prompt=p) for p in PROMPTS[:3]]
    scores = verifier.score(images, conditions)
    processor = AutoProcessor.from_pretrained(vlms["paligemma"])
    model = AutoModelForImageTextToText.from_pretrained(vlms["paligemma"]).eval()
    answer = processor.tokenizer("Yes", add_special_tokens=False)["input_ids"]
    for image, condition, score in zip(images, conditions, scores):
        prefix = processor(text=["<image>answer en " + QUESTION.format(condition.prompt)], images=[image],
                           return_tensors="pt", do_rescale=False)
        ids = torch.cat([prefix["input_ids"], torch.tensor([answer])], dim=1)
        kinds = torch.cat([torch.zeros_like(prefix["input_ids"]), torch.ones(1, len(answer), dtype=torch.long)], 1)
        with torch.no_grad():
            logits = model(input_ids=ids, token_type_ids=kinds, attention_mask=torch.ones_like(ids),
                           pixel_values=prefix["pixel_values"]).logits[0].float()
        expected = answer_log_probability(logits, prefix["input_ids"].shape[1], answer)
        assert float(score) == pytest.approx(expected, abs=1e-4)
    check_batch_invariant(verifier, conditions, images)


def test_bad_specs_are_one_line_errors(vlms, models, tmp_path):
    with pytest.raises(UsageError, match="needs a model"):
        VQAScoreVerifier(None)
    with pytest.raises(UsageError, match="dtype 'int8'"):
        VQAScoreVerifier(f"model={vlms['llava']},dtype=int8")
    with pytest.raises(UsageError, match="has no {prompt}"):
        VQAScoreVerifier(f"model={vlms['llava']},question=Is it?")
    with pytest.raises(UsageError, match="template '/nowhere.jinja' does not exist"):
        VQAScoreVerifier(f"model={vlms['llava']},template=/nowhere.jinja")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for file in vlms["llava"].iterdir():
        if file.suffix != ".safetensors":
            (damaged / file.name).write_bytes(file.read_bytes())
    with pytest.raises(UsageError, match="no .safetensors weights"):
        VQAScoreVerifier(str(damaged))
    with pytest.raises(UsageError, match="could not load VLM"):
        VQAScoreVerifier(str(models["clip"]))  # a CLIP: processor and weights, but no image-text-to-text model


class TestVQAScoreConformance(VerifierSuite):
    folder = None

    def make_verifier(self):
        return VQAScoreVerifier(str(self.folder))

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def saved(cls, tmp_path_factory):
        cls.folder = tiny_models.save_tiny_llava(tmp_path_factory.mktemp("conformance") / "llava")


def test_vqascore_drives_a_search_on_its_own_device(vlms, cli, in_process, tmp_path):
    out = tmp_path / "run"
    done = cli("predict", "--model.pipeline", "shapes", "--data.prompts", '["a red circle", "two blue squares"]',
               "--model.verifiers", json.dumps([f"vqascore:{vlms['qwen2-vl']}"]), "--model.budget_nfe", str(2 * 30),
               "--model.verifier_device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [set(r["scores"]) for r in summary["results"]] == [{"vqascore"}] * 2
    assert all(r["scores"]["vqascore"] < 0 for r in summary["results"])  # a log-probability
    bare = in_process("predict", "--model.pipeline", "shapes", "--data.prompts", '["a red circle"]',
                   "--model.verifiers", json.dumps([f"vqascore:{vlms['bare']}"]), "--out", str(tmp_path / "bare"))
    assert bare.returncode == 2 and "Traceback" not in bare.stderr
    assert "has no chat template" in bare.stderr


def test_a_clip_is_one_video_to_a_vlm_that_takes_videos(vlms):
    """Qwen2-VL sees a clip as one video (its frames in order: reversing them changes the score, as averaging
    frame scores would not), scored by hand with the video written out; LLaVA, without a video processor, judges
    frames."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    verifier = VQAScoreVerifier(f"model={vlms['qwen2-vl']},frames=4")
    assert verifier.watches_clips and not VQAScoreVerifier(str(vlms["llava"])).watches_clips
    frames = sample_images(8, size=32)
    clips = torch.stack([frames, frames.flip(0)])  # the same frames, in reverse order
    conditions = [Condition(prompt=PROMPTS[0])] * 2
    scores = verifier.score(clips, conditions)
    assert scores[0] != scores[1]
    processor = AutoProcessor.from_pretrained(vlms["qwen2-vl"])
    model = AutoModelForImageTextToText.from_pretrained(vlms["qwen2-vl"]).eval()
    text = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>" + QUESTION.format(PROMPTS[0])
            + "<|im_end|>\n<|im_start|>assistant\nYes")
    answer = processor.tokenizer("Yes", add_special_tokens=False)["input_ids"]
    inputs = processor(text=[text], videos=[frames[[0, 2, 5, 7]]], return_tensors="pt", do_rescale=False)
    with torch.no_grad():
        logits = model(**inputs).logits[0].float()
    expected = answer_log_probability(logits, len(inputs["input_ids"][0]) - len(answer), answer)
    assert abs(float(scores[0]) - expected) < 1e-4
