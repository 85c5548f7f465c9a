"""ImageReward re-implemented over transformers BLIP: the published checkpoint layout converts and scores."""


import json

import pytest
import torch
import torch.nn.functional as F

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.testing.verifiers import check_verifier, sample_images
from noisesearch_plugins.verifiers.imagereward import ImageRewardVerifier, save_converted

WIDTH, LAYERS, HEADS, PATCH, SIZE = 32, 2, 2, 8, 32
CONFIG = {
    "vision": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
               "image_size": SIZE, "patch_size": PATCH, "layer_norm_eps": 1e-6},
    "text": {"vocab_size": 40, "hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 1,
             "num_attention_heads": 2, "encoder_hidden_size": WIDTH, "max_position_embeddings": 64,
             "bos_token_id": None, "sep_token_id": None, "eos_token_id": None, "pad_token_id": 0},
    "max_length": 12, "mean": 0.1671, "std": 1.0333,
}
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue", "circle", "square", "two", "cat"]


def original_checkpoint() -> dict:
    """Random weights under the published ImageReward.pt key names (BLIP's own ViT and BERT naming)."""
    from transformers import BlipTextConfig, BlipTextModel

    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=generator) * 0.2

    tokens = (SIZE // PATCH) ** 2
    state = {"blip.visual_encoder.cls_token": rand(1, 1, WIDTH), "blip.visual_encoder.pos_embed": rand(1, tokens + 1, WIDTH),
             "blip.visual_encoder.patch_embed.proj.weight": rand(WIDTH, 3, PATCH, PATCH),
             "blip.visual_encoder.patch_embed.proj.bias": rand(WIDTH),
             "blip.visual_encoder.norm.weight": 1 + rand(WIDTH), "blip.visual_encoder.norm.bias": rand(WIDTH)}
    for i in range(LAYERS):
        block = f"blip.visual_encoder.blocks.{i}."
        state.update({block + "norm1.weight": 1 + rand(WIDTH), block + "norm1.bias": rand(WIDTH),
                      block + "attn.qkv.weight": rand(3 * WIDTH, WIDTH), block + "attn.qkv.bias": rand(3 * WIDTH),
                      block + "attn.proj.weight": rand(WIDTH, WIDTH), block + "attn.proj.bias": rand(WIDTH),
                      block + "norm2.weight": 1 + rand(WIDTH), block + "norm2.bias": rand(WIDTH),
                      block + "mlp.fc1.weight": rand(64, WIDTH), block + "mlp.fc1.bias": rand(64),
                      block + "mlp.fc2.weight": rand(WIDTH, 64), block + "mlp.fc2.bias": rand(WIDTH)})
    torch.manual_seed(1)
    text = BlipTextModel(BlipTextConfig(**CONFIG["text"], is_decoder=True), add_pooling_layer=False)
    state.update({f"blip.text_encoder.{k}": v for k, v in text.state_dict().items()})
    state["blip.text_encoder.embeddings.position_ids"] = torch.arange(64)[None]
    for layer, (rows, cols) in zip((0, 2, 4, 6, 7), ((1024, 24), (128, 1024), (64, 128), (16, 64), (1, 16))):
        state[f"mlp.layers.{layer}.weight"], state[f"mlp.layers.{layer}.bias"] = rand(rows, cols) * 0.3, rand(rows)
    state.update({"blip.vision_proj.weight": rand(8, WIDTH), "blip.itm_head.weight": rand(2, 24)})
    return state


def reference_vision(state: dict, images: torch.Tensor) -> torch.Tensor:
    """BLIP's ViT written out from the original weights (pre-norm blocks, fused qkv, final norm), with CLIP norm."""
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    w = {k.removeprefix("blip.visual_encoder."): v for k, v in state.items() if k.startswith("blip.visual_encoder.")}
    x = F.conv2d((images - mean) / std, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=PATCH)
    x = torch.cat([w["cls_token"].expand(len(images), -1, -1), x.flatten(2).transpose(1, 2)], 1) + w["pos_embed"]
    for i in range(LAYERS):
        b = lambda name: w[f"blocks.{i}.{name}"]  # noqa: E731
        h = F.layer_norm(x, (WIDTH,), b("norm1.weight"), b("norm1.bias"), eps=1e-6)
        q, k, v = F.linear(h, b("attn.qkv.weight"), b("attn.qkv.bias")).view(len(x), -1, 3, HEADS, WIDTH // HEADS) \
            .permute(2, 0, 3, 1, 4)
        attention = ((q @ k.transpose(-2, -1)) * (WIDTH // HEADS) ** -0.5).softmax(-1) @ v
        x = x + F.linear(attention.transpose(1, 2).reshape(len(x), -1, WIDTH), b("attn.proj.weight"), b("attn.proj.bias"))
        h = F.layer_norm(x, (WIDTH,), b("norm2.weight"), b("norm2.bias"), eps=1e-6)
        x = x + F.linear(F.gelu(F.linear(h, b("mlp.fc1.weight"), b("mlp.fc1.bias"))), b("mlp.fc2.weight"), b("mlp.fc2.bias"))
    return F.layer_norm(x, (WIDTH,), w["norm.weight"], w["norm.bias"], eps=1e-6)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagereward")
    (root / "bert").mkdir()
    (root / "bert" / "vocab.txt").write_text("\n".join(WORDS))
    from transformers import BertTokenizer

    BertTokenizer(str(root / "bert" / "vocab.txt")).save_pretrained(root / "bert")
    state = original_checkpoint()
    torch.save(state, root / "ImageReward.pt")
    save_converted(state, root / "converted", str(root / "bert"), CONFIG)
    return root, state


def test_convert_refuses_the_published_sizes_on_tiny_weights(converted, cli, tmp_path):
    root, _ = converted
    done = cli("convert", str(root / "ImageReward.pt"), str(tmp_path / "converted"), "--imagereward",
               "--tokenizer", str(root / "bert"))
    assert done.returncode == 2 and "misshapen" in done.stderr  # the published sizes do not fit the tiny weights


def test_convert_maps_the_published_layout_and_the_vision_tower_matches_blip(converted):
    root, state = converted
    verifier = ImageRewardVerifier(str(root / "converted"))
    images = (sample_images(3) * 255).round() / 255  # 8-bit, as the original's PIL images (no resize at 32 px)
    ours = verifier.model.vision(pixel_values=verifier.model.input(images)).last_hidden_state
    assert torch.allclose(ours, reference_vision(state, images), atol=1e-4)


def test_imagereward_scores_prompts_and_passes_the_conformance_suite(converted):
    root, _ = converted
    verifier = ImageRewardVerifier(f"model={root / 'converted'}")
    conditions = [Condition(prompt=p) for p in ("a red circle", "two blue squares", "a red circle", "a cat")]
    images = sample_images(4)
    scores = verifier.score(images, conditions)
    assert torch.isfinite(scores).all() and scores.unique().numel() == 4
    check_verifier(verifier, conditions, images)
    ids, _ = verifier._tokenize(["a red circle"], torch.device("cpu"))
    assert ids.shape == (1, 12) and ids[0, 0].item() == WORDS.index("[CLS]")
    image = images[:1].clone().requires_grad_(True)
    verifier.score(image, conditions[:1]).sum().backward()
    assert image.grad.abs().sum() > 0


def test_imagereward_without_its_folder_says_how_to_make_it(tmp_path):
    with pytest.raises(UsageError, match="noisesearch convert ImageReward.pt DIR --imagereward"):
        ImageRewardVerifier(None)
    with pytest.raises(UsageError, match="lacks config.json"):
        ImageRewardVerifier(str(tmp_path))


def test_convert_refuses_pickles_that_hold_code(tmp_path, cli):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"state_dict": Payload()}))
    done = cli("convert", str(tmp_path / "evil.pt"), str(tmp_path / "out.safetensors"))
    assert done.returncode == 2 and "cannot read" in done.stderr and "pwned" not in done.stdout
    torch.save({"state_dict": {"layers.0.weight": torch.ones(2, 2)}, "epoch": 3}, tmp_path / "head.pth")
    done = cli("convert", str(tmp_path / "head.pth"), str(tmp_path / "head.safetensors"))
    assert done.returncode == 0
    from safetensors.torch import load_file

    assert torch.equal(load_file(tmp_path / "head.safetensors")["layers.0.weight"], torch.ones(2, 2))


def test_a_damaged_imagereward_folder_is_refused_naming_the_weights(converted, tmp_path, cli):
    import shutil

    from safetensors.torch import load_file, save_file

    root, _ = converted
    damaged = tmp_path / "damaged"
    shutil.copytree(root / "converted", damaged)
    weights = load_file(damaged / "model.safetensors")
    del weights["mlp.layers.0.bias"]
    weights["mlp.layers.2.weight"] = weights["mlp.layers.2.weight"][:, :-1].contiguous()
    weights["extra.tensor"] = torch.zeros(2)
    save_file(weights, str(damaged / "model.safetensors"))
    with pytest.raises(UsageError) as refused:
        ImageRewardVerifier(str(damaged))
    message = str(refused.value)
    assert "missing 1: mlp.layers.0.bias" in message and "unexpected 1: extra.tensor" in message
    assert "misshapen 1: mlp.layers.2.weight" in message and "\n" not in message
    done = cli("predict", "--model.pipeline", "toy-prompt", "--data.prompts", '["a cat"]',
               "--model.verifiers", json.dumps([f"imagereward:{damaged}"]), "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "mlp.layers.0.bias" in done.stderr
