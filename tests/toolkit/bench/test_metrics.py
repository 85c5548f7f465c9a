"""CLIPScore over a tiny CLIP saved and loaded from a local folder (the code path of a hub id), offline."""

import pytest
import torch
import torch.nn.functional as F

from noisesearch.bench.metrics import CLIPScore, clip_score
from noisesearch_plugins.testing.tiny_models import save_tiny_clip


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return str(save_tiny_clip(tmp_path_factory.mktemp("clip")))


def test_clip_score_is_hessels_definition(clip_folder):
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    prompts = ["a red circle", "two blue squares", "a cat", "a dog"]
    metric = CLIPScore(clip_folder)
    inputs = metric.processor(images=list(images), return_tensors="pt", do_rescale=False)
    text = metric.processor(text=prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        a = F.normalize(metric.model.get_image_features(**inputs).pooler_output, dim=-1)
        b = F.normalize(metric.model.get_text_features(**text).pooler_output, dim=-1)
    expected = (100 * (a * b).sum(-1).clamp(min=0)).mean().item()
    assert clip_score(clip_folder, images, prompts) == pytest.approx(expected, rel=1e-5)
    assert 0 <= expected <= 100


def test_clip_score_accumulates_batches(clip_folder):
    images = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    prompts = ["one", "two", "three", "four", "five", "six"]
    metric = CLIPScore(clip_folder)
    metric.update(images[:2], prompts[:2])
    metric.update(images[2:], prompts[2:])
    assert float(metric.compute()) == pytest.approx(clip_score(clip_folder, images, prompts), rel=1e-5)
