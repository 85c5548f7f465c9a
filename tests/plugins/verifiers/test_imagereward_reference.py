"""ImageReward against the published `image-reward` package's own model code and scoring (random weights, tiny sizes).

The package is installed by the test into a temporary folder without its pinned dependencies (and with `timm`, which
its ViT imports); small shims stand in for names transformers has since moved or dropped and for the training-only
imports of the package's `__init__` (fairscale's checkpoint wrapper, OpenAI's clip, datasets). The reference model is
the package's VisionTransformer, BERT with cross-attention and MLP; it scores PIL images through its own
`ImageReward.score` (its resize, crop and normalisation). Its state dict is what a published ImageReward.pt holds;
`noisesearch convert --to imagereward` converts it and our verifier scores the same images as tensors.
"""

import importlib
import json
import subprocess
import sys
import types

import numpy as np
import pytest

from helpers import reference_site
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from noisesearch.conditions import Condition
from noisesearch.imaging import ImageInput
from noisesearch_plugins.verifiers.imagereward import ImageRewardVerifier

pytestmark = pytest.mark.slow  # the reference packages' own code

WIDTH, TEXT_WIDTH, SIZE, PATCH = 32, 24, 64, 8
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue", "circle", "square", "two", "cat", "on"]
SIZES = {
    "vision": {"hidden_size": WIDTH, "intermediate_size": 4 * WIDTH, "num_hidden_layers": 2, "num_attention_heads": 2,
               "image_size": SIZE, "patch_size": PATCH, "layer_norm_eps": 1e-6},
    "text": {"vocab_size": len(WORDS), "hidden_size": TEXT_WIDTH, "intermediate_size": 48, "num_hidden_layers": 2,
             "num_attention_heads": 2, "encoder_hidden_size": WIDTH, "max_position_embeddings": 64},
    "max_length": 35, "mean": 0.16717362830052426, "std": 1.0333394966054072,
}
PROMPTS = ["a red circle", "two blue squares", "a cat on a red square"]


def import_reference(folder):
    """The package's modules, imported without running its training-only package __init__ files."""
    sys.path.insert(0, str(folder))
    import transformers.modeling_utils as modeling_utils
    import transformers.pytorch_utils as pytorch_utils

    # names transformers moved to pytorch_utils or dropped (pruning is never called here)
    modeling_utils.apply_chunking_to_forward = pytorch_utils.apply_chunking_to_forward
    modeling_utils.prune_linear_layer = pytorch_utils.prune_linear_layer
    modeling_utils.find_pruneable_heads_and_indices = None
    wrapper = types.ModuleType("fairscale.nn.checkpoint.checkpoint_activations")
    wrapper.checkpoint_wrapper = lambda module, **options: module  # gradient checkpointing only
    for name in ("fairscale", "fairscale.nn", "fairscale.nn.checkpoint"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["fairscale.nn.checkpoint.checkpoint_activations"] = wrapper
    for name, path in (("ImageReward", folder / "ImageReward"), ("ImageReward.models", folder / "ImageReward/models")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    med = importlib.import_module("ImageReward.models.BLIP.med")
    vit = importlib.import_module("ImageReward.models.BLIP.vit")
    reward = importlib.import_module("ImageReward.ImageReward")

    # helpers transformers' PreTrainedModel had when the package was written, as it defined them
    med.BertPreTrainedModel.init_weights = lambda self: self.apply(self._init_weights)
    med.BertModel.get_head_mask = lambda self, head_mask, layers: [None] * layers if head_mask is None else head_mask

    def invert_attention_mask(self, mask):
        inverted = (mask[:, None, None, :] if mask.dim() == 2 else mask[:, None, :, :]).to(self.dtype)
        return (1.0 - inverted) * torch.finfo(self.dtype).min

    med.BertModel.invert_attention_mask = invert_attention_mask
    return med, vit, reward


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagereward-reference")
    med, vit, reward = import_reference(reference_site())
    from transformers import BertTokenizer

    (root / "bert").mkdir()
    (root / "bert" / "vocab.txt").write_text("\n".join(WORDS))
    tokenizer = BertTokenizer(str(root / "bert" / "vocab.txt"))
    tokenizer.save_pretrained(root / "bert")
    torch.manual_seed(0)
    config = med.BertConfig(vocab_size=len(WORDS), hidden_size=TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=48, max_position_embeddings=64, add_cross_attention=True)
    config.encoder_width = WIDTH
    blip = nn.Module()
    blip.visual_encoder = vit.VisionTransformer(img_size=SIZE, patch_size=PATCH, embed_dim=WIDTH, depth=2, num_heads=2)
    blip.text_encoder = med.BertModel(config=config, add_pooling_layer=False)
    blip.tokenizer = tokenizer
    model = reward.ImageReward.__new__(reward.ImageReward)  # its __init__ builds the published ViT-L and BERT-base
    nn.Module.__init__(model)
    model.device, model.blip, model.mlp = "cpu", blip, reward.MLP(TEXT_WIDTH)
    model.preprocess = reward._transform(SIZE)
    model.mean, model.std = SIZES["mean"], SIZES["std"]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():  # away from the initialisers' ones and zeros, so every weight matters
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.eval()
    torch.save(model.state_dict(), root / "ImageReward.pt")
    (root / "sizes.json").write_text(json.dumps(SIZES))
    done = subprocess.run([str(__import__("pathlib").Path(sys.executable).parent / "noisesearch"), "convert",
                           str(root / "ImageReward.pt"), str(root / "converted"), "--to", "imagereward", "--tokenizer",
                           str(root / "bert"), "--config", str(root / "sizes.json")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return model, ImageRewardVerifier(str(root / "converted"))


def realistic_images():
    """Smooth 512x512 and 512x384 photographs-to-be (a realistic size, so the reference's own resize matters)."""
    generator = torch.Generator().manual_seed(3)
    images = []
    for height, width in ((512, 512), (384, 512), (512, 512)):
        coarse = torch.rand(1, 3, 6, 6, generator=generator)
        image = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
        images.append((image[0] * 255).round().to(torch.uint8))
    return images


def test_scores_equal_the_packages_own_scoring(reference):
    model, verifier = reference
    for image, prompt in zip(realistic_images(), PROMPTS):
        pil = Image.fromarray(image.permute(1, 2, 0).numpy())
        theirs = model.score(prompt, pil)
        ours = float(verifier.score(image[None].float() / 255, [Condition(prompt=prompt)]))
        # our resize is Pillow's, value for value
        assert ours == pytest.approx(theirs, abs=1e-4), (prompt, image.shape)
        resized = model.preprocess.transforms[-2](model.preprocess.transforms[-3](
            model.preprocess.transforms[1](model.preprocess.transforms[0](pil))))  # their resize and crop, unnormalised
        same_pixels = float(verifier.score(resized[None], [Condition(prompt=prompt)]))
        assert same_pixels == pytest.approx(theirs, abs=1e-5), (prompt, image.shape)


def test_the_comparison_fails_when_preprocessing_differs(reference):
    model, verifier = reference
    image, prompt = realistic_images()[1], PROMPTS[1]  # 384x512: resizing and cropping both matter
    theirs = model.score(prompt, Image.fromarray(image.permute(1, 2, 0).numpy()))
    pixels = image[None].float() / 255
    original = verifier.model.input
    changes = {
        "normalisation": ImageInput(SIZE, SIZE, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        "resize": lambda images, like=None: original(F.interpolate(images, size=(SIZE, SIZE), mode="bicubic",
                                                                   antialias=True), like),  # squashed, not cropped
        "crop": lambda images, like=None: original(images[..., :, : images.shape[-2]], like),
    }
    try:
        for change, preprocess in changes.items():
            verifier.model.input = preprocess
            ours = float(verifier.score(pixels, [Condition(prompt=prompt)]))
            assert abs(ours - theirs) > 1e-3, f"a different {change} went unnoticed"
    finally:
        verifier.model.input = original


def test_the_reference_tokenizer_and_ours_agree(reference):
    model, verifier = reference
    for prompt in PROMPTS:
        theirs = model.blip.tokenizer(prompt, padding="max_length", truncation=True, max_length=35,
                                      return_tensors="pt")
        ids, mask = verifier._tokenize([prompt], torch.device("cpu"))
        assert torch.equal(ids, theirs.input_ids) and torch.equal(mask, theirs.attention_mask)
    assert np.isfinite([float(model.score(p, Image.new("RGB", (512, 512), "gray"))) for p in PROMPTS]).all()
