"""transformers verifiers: classifier and pickscore, loaded with from_pretrained from folders like hub ids."""

import json

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.testing.verifiers import check_verifier, sample_images
from noisesearch_plugins.digits.pipeline import DigitsFamily
from noisesearch_plugins.verifiers.classifier import ClassifierVerifier
from noisesearch_plugins.verifiers.pickscore import PickScoreVerifier

CLASSES = [Condition(class_label=label) for label in (0, 3, 9, 3)]
PROMPTS = [Condition(prompt=p) for p in ("a red circle", "two squares", "a red circle", "blue")]


def test_classifier_gives_the_class_probability_the_processor_route_gives(models):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    verifier = ClassifierVerifier(str(models["vit"]))
    verifier.attach(DigitsFamily())
    images = sample_images(4)
    processor = AutoImageProcessor.from_pretrained(models["vit"])
    model = AutoModelForImageClassification.from_pretrained(models["vit"]).eval()
    pixels = processor(images=list(images), return_tensors="pt", do_rescale=False)["pixel_values"]
    with torch.no_grad():
        expected = model(pixel_values=pixels).logits.softmax(-1)[torch.arange(4), torch.tensor([0, 3, 9, 3])]
    assert torch.allclose(verifier.score(images, CLASSES), expected, atol=1e-5)
    check_verifier(verifier, CLASSES, images)


def test_classifier_label_map_sums_the_mapped_labels(models, tmp_path):
    mapping = tmp_path / "labels.json"
    mapping.write_text(json.dumps({str(i): [9 - i, (9 - i + 1) % 10] if i == 0 else 9 - i for i in range(10)}))
    plain = ClassifierVerifier(str(models["vit"]))
    mapped = ClassifierVerifier(f"model={models['vit']},labels={mapping}")
    mapped.attach(DigitsFamily())
    images = sample_images(4)
    probabilities = plain.model(pixel_values=plain.input(images)).logits.softmax(-1)
    expected = torch.stack([probabilities[0, 9] + probabilities[0, 0], probabilities[1, 6], probabilities[2, 0],
                            probabilities[3, 6]])
    assert torch.allclose(mapped.score(images, CLASSES), expected, atol=1e-6)


def test_classifier_refuses_what_it_cannot_judge(models, tmp_path):
    from noisesearch_plugins.testing.tiny_models import save_tiny_image_classifier

    small = save_tiny_image_classifier(tmp_path / "three", num_labels=3)
    with pytest.raises(UsageError, match="10 classes but the classifier only 3 labels"):
        ClassifierVerifier(str(small)).attach(DigitsFamily())
    partial = tmp_path / "partial.json"
    partial.write_text('{"0": 1}')
    with pytest.raises(UsageError, match="label map lacks pipeline classes"):
        ClassifierVerifier(f"model={models['vit']},labels={partial}").attach(DigitsFamily())
    beyond = tmp_path / "beyond.json"
    beyond.write_text('{"0": 12}')
    with pytest.raises(UsageError, match="outside the classifier"):
        ClassifierVerifier(f"model={models['vit']},labels={beyond}")
    (tmp_path / "unsafe").mkdir()
    (tmp_path / "unsafe" / "config.json").write_text((models["vit"] / "config.json").read_text())
    (tmp_path / "unsafe" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UsageError, match="no .safetensors weights"):
        ClassifierVerifier(str(tmp_path / "unsafe"))
    with pytest.raises(UsageError, match="needs a model"):
        ClassifierVerifier(None)
    with pytest.raises(UsageError, match="could not load image classifier 'nobody/nothing'"):
        ClassifierVerifier("nobody/nothing")


def test_pickscore_is_the_scaled_cosine_the_clip_model_computes(models):
    from transformers import CLIPModel, CLIPProcessor

    verifier = PickScoreVerifier(str(models["clip"]))
    images = (sample_images(4) * 255).round() / 255  # 8-bit, as images a processor is given are
    model = CLIPModel.from_pretrained(models["clip"]).eval()
    processor = CLIPProcessor.from_pretrained(models["clip"])
    inputs = processor(text=[c.prompt for c in PROMPTS], images=list(images), return_tensors="pt", padding=True,
                       do_rescale=False)
    with torch.no_grad():
        output = model(**inputs)
    expected = output.logits_per_image.diagonal()
    assert torch.allclose(verifier.score(images, PROMPTS), expected, atol=1e-4)
    check_verifier(verifier, PROMPTS, images)


def test_classifier_drives_a_search_on_digits(models, cli, tmp_path):
    out = tmp_path / "run"
    done = cli("predict", "--model.verifiers", json.dumps([f"classifier:{models['vit']}"]), "--data.classes", "2,5",
               "--model.budget_nfe", "28", "--model.verifier_device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [set(r["scores"]) for r in summary["results"]] == [{"classifier"}] * 2


def realistic_pictures():
    """Smooth 512x512 and 512x384 uint8 images, as PIL images and as the tensors the search hands verifiers."""
    import torch.nn.functional as F
    from PIL import Image

    generator = torch.Generator().manual_seed(5)
    pictures = []
    for height, width in ((512, 512), (384, 512)):
        coarse = torch.rand(1, 3, 6, 6, generator=generator)
        pixels = (F.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0, 1)[0] * 255).round()
        pixels = pixels.to(torch.uint8)
        pictures.append((Image.fromarray(pixels.permute(1, 2, 0).numpy()), pixels[None].float() / 255))
    return pictures


def test_pickscore_matches_the_published_recipe_on_pil_images_and_notices_preprocessing(models):
    """PickScore's README: CLIPProcessor on PIL images and the prompt, unit features, logit scale x cosine."""
    from noisesearch.imaging import ImageInput
    from transformers import AutoModel, AutoProcessor

    processor = AutoProcessor.from_pretrained(models["clip"])
    model = AutoModel.from_pretrained(models["clip"]).eval()
    verifier = PickScoreVerifier(str(models["clip"]))
    for (picture, pixels), prompt in zip(realistic_pictures(), PROMPTS):
        image_inputs = processor(images=[picture], return_tensors="pt")
        text_inputs = processor(text=[prompt.prompt], padding=True, truncation=True, max_length=32,
                                return_tensors="pt")
        with torch.no_grad():
            image = model.get_image_features(**image_inputs)
            text = model.get_text_features(**text_inputs)
            image = getattr(image, "pooler_output", image)
            text = getattr(text, "pooler_output", text)
            image, text = image / image.norm(dim=-1, keepdim=True), text / text.norm(dim=-1, keepdim=True)
            theirs = float(model.logit_scale.exp() * (text @ image.T)[0, 0])
        ours = float(verifier.score(pixels, [prompt]))
        # pixels agree within one 8-bit level (mean 0.05 levels): PIL's fixed-point bicubic against torch's
        assert ours == pytest.approx(theirs, abs=1e-2), picture.size
        original = verifier.input
        changes = {"normalisation": ImageInput(original.height, original.width, (0.5,) * 3, (0.5,) * 3, True)}
        if picture.size != (512, 512):
            changes["crop"] = lambda images, like=None: original(images[..., :, : images.shape[-2]], like)
        for change, preprocess in changes.items():
            verifier.input = preprocess
            moved = float(verifier.score(pixels, [prompt]))
            verifier.input = original
            assert abs(moved - theirs) > 5e-2, f"a different {change} went unnoticed"
