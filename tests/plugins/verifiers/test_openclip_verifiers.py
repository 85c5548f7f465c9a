"""open_clip verifiers: clip, hpsv2, clip-zeroshot, aesthetic, loaded from local-dir folders like hub models."""

import json
import shutil
from pathlib import Path

import open_clip
import pytest

from helpers import reference_site
import torch
import torch.nn.functional as F

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.testing.verifiers import check_verifier, sample_images
from noisesearch_plugins.digits.pipeline import DigitsFamily
from noisesearch_plugins.verifiers.aesthetic import AestheticVerifier
from noisesearch_plugins.verifiers.clip_score import CLIPScoreVerifier, HPSv2Verifier
from noisesearch_plugins.verifiers.zeroshot import CLIPZeroShot

PROMPTS = [Condition(prompt=p) for p in ("two red circles", "a blue square", "two red circles", "a green cat")]
CLASSES = [Condition(class_label=label) for label in (0, 3, 9, 3)]


def reference_features(folder, images, texts):
    """Image and text embeddings the open_clip way (create_model_and_transforms), independent of our code."""
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        image = F.normalize(model.encode_image((images - mean) / std), dim=-1)
        text = F.normalize(model.encode_text(tokenizer(texts)), dim=-1)
    return image, text


def test_clip_score_is_100_cosine_as_open_clip_computes_it(models):
    images = sample_images(4)  # 32x32: the tiny model's size, so no resizing is involved
    verifier = CLIPScoreVerifier(f"local-dir:{models['open_clip']}")
    image, text = reference_features(models["open_clip"], images, [c.prompt for c in PROMPTS])
    expected = 100 * (image * text).sum(-1)
    assert torch.allclose(verifier.score(images, PROMPTS), expected, atol=1e-4)
    check_verifier(verifier, PROMPTS, images)


def test_clip_scores_other_sizes_and_grey_images(models):
    verifier = CLIPScoreVerifier(f"model=local-dir:{models['open_clip']}")
    grey = sample_images(4, channels=1, size=16)
    scores = verifier.score(grey, PROMPTS)
    assert scores.shape == (4,) and torch.isfinite(scores).all()
    assert torch.allclose(scores, verifier.score(grey.expand(-1, 3, -1, -1), PROMPTS))


def test_hpsv2_is_the_cosine_and_needs_its_weights(models):
    images = sample_images(4)
    clip = CLIPScoreVerifier(f"local-dir:{models['open_clip']}").score(images, PROMPTS)
    hps = HPSv2Verifier(f"local-dir:{models['open_clip']}")
    assert torch.allclose(hps.score(images, PROMPTS) * 100, clip, atol=1e-4)
    check_verifier(hps, PROMPTS, images)
    with pytest.raises(UsageError, match="noisesearch convert"):
        HPSv2Verifier(None)


def test_zero_shot_is_the_softmax_share_of_the_class(models, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"digit {i}" for i in range(10)))
    verifier = CLIPZeroShot(f"model=local-dir:{models['open_clip']},classes={names}")
    verifier.attach(DigitsFamily())
    images = sample_images(4)
    image, text = reference_features(models["open_clip"], images,
                                     [t.format(f"digit {i}") for i in range(10) for t in verifier.templates])
    weights = F.normalize(text.view(10, len(verifier.templates), -1).mean(1), dim=-1)
    scale = verifier.clip.logit_scale()
    expected = (scale * image @ weights.T).softmax(-1)[torch.arange(4), torch.tensor([0, 3, 9, 3])]
    assert torch.allclose(verifier.score(images, CLASSES), expected, atol=1e-5)
    check_verifier(verifier, CLASSES, images)


def test_zero_shot_takes_the_pipeline_class_names_and_checks_their_count(models, tmp_path):
    verifier = CLIPZeroShot(f"local-dir:{models['open_clip']}")
    verifier.attach(DigitsFamily())
    assert verifier.class_names[3] == "handwritten digit 3"
    short = tmp_path / "names.json"
    short.write_text(json.dumps(["a", "b"]))
    with pytest.raises(UsageError, match="2 class names but pipeline 'digits' has 10"):
        CLIPZeroShot(f"model=local-dir:{models['open_clip']},classes={short}").attach(DigitsFamily())


def test_aesthetic_is_the_mlp_on_unit_image_embeddings(models):
    from safetensors.torch import load_file

    verifier = AestheticVerifier(f"head={models['aesthetic']},clip=local-dir:{models['open_clip']}")
    images = (sample_images(4) * 255).round() / 255  # 8-bit, as the PIL images open_clip's recipe takes
    image, _ = reference_features(models["open_clip"], images, ["x"])
    weights = load_file(models["aesthetic"])
    hidden = image
    for i in (0, 2, 4, 6, 7):  # dropout layers sit between, inactive in eval
        hidden = F.linear(hidden, weights[f"layers.{i}.weight"], weights[f"layers.{i}.bias"])
    assert torch.allclose(verifier.score(images, PROMPTS), hidden.squeeze(-1), atol=1e-5)
    check_verifier(verifier, PROMPTS, images)
    check_verifier(verifier, CLASSES, images)


def test_specs_without_the_files_they_need_fail_cleanly(models, tmp_path):
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "open_clip_config.json").write_text((models["open_clip"] / "open_clip_config.json").read_text())
    (tmp_path / "empty").mkdir()
    cases = {
        f"local-dir:{tmp_path / 'missing'}": "does not exist",
        f"local-dir:{tmp_path / 'empty'}": "no open_clip_config.json",
        f"local-dir:{tmp_path / 'config-only'}": "no .safetensors weights",
        "ViT-Nope-99/openai": "unknown open_clip model",
        "ViT-B-32/no-such-tag": "has no pretrained tag",
    }
    for spec, message in cases.items():
        with pytest.raises(UsageError, match=message):
            CLIPScoreVerifier(spec)
    with pytest.raises(UsageError, match="needs its MLP head"):
        AestheticVerifier(None)
    with pytest.raises(UsageError, match="takes 768-d embeddings"):
        from noisesearch_plugins.verifiers.aesthetic import save_random_head

        wide = save_random_head(tmp_path / "wide.safetensors", width=768)
        AestheticVerifier(f"head={wide},clip=local-dir:{models['open_clip']}")
    with pytest.raises(UsageError, match="unknown option 'colour=red'"):
        CLIPScoreVerifier(f"model=local-dir:{models['open_clip']},colour=red")


def test_a_hub_name_that_is_not_cached_fails_cleanly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="local-dir:/path"):
        CLIPScoreVerifier("hf-hub:nobody/no-such-clip")


def test_clip_drives_a_search_on_a_text_model_from_a_folder(models, cli, tmp_path):
    out = tmp_path / "run"
    spec = f"clip:local-dir:{models['other_open_clip']}"
    done = cli("predict", "--model.pipeline", "toy-prompt", "--model.verifiers", json.dumps([spec]),
               "--model.budget_nfe", "56", "--data.prompts", '["two red circles", "a blue square"]', "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verifiers"] == [spec] and summary["verifier_s"]["clip"] >= 0
    verifier = CLIPScoreVerifier(f"local-dir:{models['other_open_clip']}")
    from PIL import Image
    import numpy as np

    for record in summary["results"]:
        assert record["candidates"] == 8 and set(record["scores"]) == {"clip"}
        pixels = torch.from_numpy(np.asarray(Image.open(out / record["image"]), dtype=np.float32) / 255)
        rescored = verifier.score(pixels[None, None], [Condition(prompt=record["condition"]["prompt"])])
        assert abs(float(rescored) - record["scores"]["clip"]) < 0.5  # the PNG is quantised to 8 bits


def test_prompt_verifiers_refuse_class_pipelines_and_the_reverse(models, in_process, tmp_path):
    done = in_process("predict", "--model.verifiers", json.dumps([f"clip:local-dir:{models['open_clip']}"]),
                   "--out", str(tmp_path / "a"))
    assert done.returncode == 2
    assert "verifier 'clip' judges prompt conditions" in done.stderr and "Traceback" not in done.stderr
    done = in_process("predict", "--model.pipeline", "toy-prompt", "--data.prompts", '["x"]',
                   "--model.verifiers", json.dumps([f"clip-zeroshot:local-dir:{models['open_clip']}"]),
                   "--out", str(tmp_path / "b"))
    assert done.returncode == 2 and "verifier 'clip-zeroshot' judges class conditions" in done.stderr
    done = in_process("predict", "--model.verifiers", '["no-such-verifier"]', "--out", str(tmp_path / "c"))
    assert done.returncode == 2 and "known verifiers:" in done.stderr and "clip-zeroshot" in done.stderr
    done = in_process("predict", "--model.verifiers", json.dumps([f"clip-zeroshot:local-dir:{tmp_path}/nowhere"]),
                   "--out", str(tmp_path / "d"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_aesthetic_matches_the_laion_predictors_recipe_on_pil_images(models):
    """LAION's predictor: open_clip's own preprocess on a PIL image, encode_image, unit norm, the MLP (keys layers.N)."""
    import open_clip
    from PIL import Image
    from safetensors.torch import load_file
    from torch import nn

    from noisesearch.imaging import ImageInput

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{models['open_clip']}")
    model.eval()
    width = model.visual.output_dim
    mlp = nn.Sequential(nn.Linear(width, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
                        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))
    mlp.load_state_dict({k.removeprefix("layers."): v for k, v in load_file(models["aesthetic"]).items()})
    mlp.eval()
    verifier = AestheticVerifier(f"head={models['aesthetic']},clip=local-dir:{models['open_clip']}")
    generator = torch.Generator().manual_seed(7)
    for height, width_ in ((512, 512), (384, 512)):
        coarse = torch.rand(1, 3, 6, 6, generator=generator)
        pixels = (F.interpolate(coarse, size=(height, width_), mode="bicubic").clamp(0, 1)[0] * 255).round()
        picture = Image.fromarray(pixels.to(torch.uint8).permute(1, 2, 0).numpy())
        with torch.no_grad():
            features = model.encode_image(preprocess(picture)[None])
            theirs = float(mlp(features / features.norm(dim=-1, keepdim=True)))
        images = pixels[None] / 255
        ours = float(verifier.score(images, PROMPTS[:1]))
        assert ours == pytest.approx(theirs, abs=2e-4), (height, width_)  # PIL's bicubic against torch's
        original = verifier.clip.input
        verifier.clip.input = ImageInput(original.height, original.width, (0.5,) * 3, (0.5,) * 3, True)
        moved = float(verifier.score(images, PROMPTS[:1]))
        verifier.clip.input = original
        assert abs(moved - theirs) > 1e-3, "a different normalisation went unnoticed"  # 5x the tolerance


def test_hpsv2_preprocesses_as_the_hpsv2_packages_own_val_transform(models, tmp_path):
    """hpsv2's scoring preprocesses with image_transform(..., resize_longest_max=True): ToTensor, the longest edge
    resized, black padding, normalisation. The package (installed here without its pins) builds it from its code."""
    import importlib
    import sys
    import types

    from PIL import Image

    site = reference_site()
    for name in ("hpsv2", "hpsv2.src", "hpsv2.src.open_clip"):  # its __init__ files import training and downloads
        package = types.ModuleType(name)
        package.__path__ = [str(site.joinpath(*name.split(".")))]
        sys.modules[name] = package
    transform = importlib.import_module("hpsv2.src.open_clip.transform")
    verifier = HPSv2Verifier(f"local-dir:{models['open_clip']}")
    size = verifier.clip.input.height
    theirs_of = transform.image_transform(size, is_train=False, mean=verifier.clip.input.mean,
                                          std=verifier.clip.input.std, resize_longest_max=True)
    generator = torch.Generator().manual_seed(9)
    for height, width in ((512, 512), (384, 512), (512, 300)):
        pixels = (torch.rand(3, height, width, generator=generator) * 255).round().to(torch.uint8)
        theirs = theirs_of(Image.fromarray(pixels.permute(1, 2, 0).numpy()))
        ours = verifier.clip.input(pixels[None].float() / 255)[0]
        assert torch.allclose(ours, theirs, atol=1e-4), (height, width, (ours - theirs).abs().max())
        cropped = CLIPScoreVerifier(f"local-dir:{models['open_clip']}").clip.input(pixels[None].float() / 255)[0]
        if height != width:
            assert (cropped - theirs).abs().max() > 0.5, "a crop instead of padding went unnoticed"


def test_hpsv2_scores_as_the_hpsv2_packages_vendored_model_code(models, tmp_path):
    """hpsv2 ships its own copy of open_clip; its CLIP class, on our tiny checkpoint's weights, with its tokenizer and
    its val transform, gives the score (image features @ text features, unit norm) our verifier gives."""
    import importlib
    import sys
    import types

    from PIL import Image
    from safetensors.torch import load_file

    site = reference_site()
    vocabulary = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"  # CLIP's BPE; the wheel lacks it
    shutil.copy(vocabulary, site / "hpsv2" / "src" / "open_clip" / vocabulary.name)
    for name in ("hpsv2", "hpsv2.src", "hpsv2.src.open_clip"):  # its __init__ files import training and downloads
        package = types.ModuleType(name)
        package.__path__ = [str(site.joinpath(*name.split(".")))]
        sys.modules[name] = package
    try:
        vendored = importlib.import_module("hpsv2.src.open_clip.model")
        tokenizer = importlib.import_module("hpsv2.src.open_clip.tokenizer")
        transform = importlib.import_module("hpsv2.src.open_clip.transform")
    finally:
        for name in [n for n in sys.modules if n == "hpsv2" or n.startswith("hpsv2.")]:
            del sys.modules[name]
    config = json.loads((models["open_clip"] / "open_clip_config.json").read_text())
    theirs = vendored.CLIP(**config["model_cfg"]).eval()
    theirs.load_state_dict(load_file(models["open_clip"] / "open_clip_model.safetensors"))
    verifier = HPSv2Verifier(f"local-dir:{models['open_clip']}")
    preprocess = transform.image_transform(verifier.clip.input.height, is_train=False, mean=verifier.clip.input.mean,
                                           std=verifier.clip.input.std, resize_longest_max=True)
    generator = torch.Generator().manual_seed(4)
    prompts = ["a red circle", "two blue squares"]
    for (height, width), prompt in zip(((512, 512), (384, 512)), prompts):
        pixels = (torch.rand(3, height, width, generator=generator) * 255).round().to(torch.uint8)
        image = preprocess(Image.fromarray(pixels.permute(1, 2, 0).numpy()))[None]
        with torch.no_grad():
            image_features = F.normalize(theirs.encode_image(image), dim=-1)
            text_features = F.normalize(theirs.encode_text(tokenizer.tokenize([prompt], context_length=16)), dim=-1)
        expected = float(image_features @ text_features.T)
        ours = float(verifier.score(pixels[None].float() / 255, [Condition(prompt=prompt)]))
        assert ours == pytest.approx(expected, abs=1e-4), (height, width)
