"""Verifier ``imagereward``: ImageReward (Xu et al. 2023) re-implemented over transformers' BLIP modules.

The published package pins timm 0.6 and imports transformers internals that transformers 5 removed, so it cannot
install beside our pins. The model is BLIP's ViT-L/16 image encoder, its BERT text encoder cross-attending to the
image patches, and an MLP on the text [CLS] state; rewards are standardised with the published mean and std.
``noisesearch convert ImageReward.pt DIR --imagereward`` maps the published state dict onto these modules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional, Sequence

import torch
from safetensors.torch import save_file
from torch import nn

from noisesearch.plugin import Condition, ImageInput, UsageError, Verifier, parse_options
from noisesearch_plugins.verifiers.weights import load_strict

from .aesthetic import RewardMLP
from .hf_models import load_pretrained

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PUBLISHED = {
    "vision": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
               "image_size": 224, "patch_size": 16, "layer_norm_eps": 1e-6},
    "text": {"vocab_size": 30524, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
             "num_attention_heads": 12, "encoder_hidden_size": 1024, "max_position_embeddings": 512},
    "max_length": 35,
    "mean": 0.16717362830052426,
    "std": 1.0333394966054072,
}
VISION_RENAMES = [
    (r"^cls_token$", "embeddings.class_embedding"),
    (r"^pos_embed$", "embeddings.position_embedding"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embedding."),
    (r"^blocks\.(\d+)\.norm1\.", r"encoder.layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", r"encoder.layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.qkv\.", r"encoder.layers.\1.self_attn.qkv."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.projection."),
    (r"^blocks\.(\d+)\.mlp\.", r"encoder.layers.\1.mlp."),
    (r"^norm\.", "post_layernorm."),
]


class ImageRewardModel(nn.Module):
    """BLIP image encoder, cross-attending text encoder and reward MLP, sized by a config like ``PUBLISHED``."""

    def __init__(self, config: dict):
        super().__init__()
        from transformers import BlipTextConfig, BlipTextModel, BlipVisionConfig, BlipVisionModel

        self.config = config
        self.vision = BlipVisionModel(BlipVisionConfig(**config["vision"]))
        text = BlipTextConfig(**config["text"], is_decoder=True, use_cache=False)  # is_decoder adds cross-attention
        self.text = BlipTextModel(text, add_pooling_layer=False)
        self.mlp = RewardMLP(config["text"]["hidden_size"])
        # the reference resizes PIL images: Pillow's fixed-point bicubic, 8 bits after each pass
        self.input = ImageInput(config["vision"]["image_size"], config["vision"]["image_size"], CLIP_MEAN, CLIP_STD,
                                eight_bit=True, like_pil=True)

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        patches = self.vision(pixel_values=self.input(images, self.vision)).last_hidden_state
        text = self.text(input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=patches,
                         encoder_attention_mask=torch.ones(patches.shape[:2], dtype=torch.long, device=patches.device),
                         is_decoder=False).last_hidden_state
        reward = self.mlp(text[:, 0].float())
        return (reward - self.config["mean"]) / self.config["std"]


def convert_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The published ``ImageReward.pt`` keys (``blip.visual_encoder.*``, ``blip.text_encoder.*``, ``mlp.*``) as ours;
    BLIP's projection, ITM and decoder heads, unused by the reward, are dropped."""
    converted = {}
    for key, value in original.items():
        if key.startswith("blip.visual_encoder."):
            name = key[len("blip.visual_encoder."):]
            for pattern, replacement in VISION_RENAMES:
                name, count = re.subn(pattern, replacement, name)
                if count:
                    break
            else:
                raise ValueError(f"unexpected ImageReward vision key {key!r}")
            converted[f"vision.{name}"] = value
        elif key.startswith("blip.text_encoder.") and not key.endswith("position_ids"):
            converted["text." + key[len("blip.text_encoder."):]] = value
        elif key.startswith("mlp.layers."):
            converted[key] = value
    return converted


def save_converted(original: dict[str, torch.Tensor], folder: Path, tokenizer_source: str,
                   config: Optional[dict] = None) -> Path:
    """Write the folder ``imagereward:DIR`` loads: config.json, model.safetensors and the BERT tokenizer."""
    from transformers import BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = config or PUBLISHED
    with torch.device("meta"):  # shapes only: nothing is allocated
        expected = {key: value.shape for key, value in ImageRewardModel(config).state_dict().items()}
    state = convert_state_dict(original)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = sorted(key for key in set(state) & set(expected) if state[key].shape != expected[key])
    if missing or unexpected or misshapen:
        raise UsageError(f"not an ImageReward checkpoint of the published size: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}, misshapen {misshapen[:3]}")
    save_file({key: value.contiguous() for key, value in state.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    load_pretrained(BertTokenizer, tokenizer_source, "BERT tokenizer").save_pretrained(folder)
    return folder


class ImageRewardVerifier(Verifier):
    """ImageReward: human-preference reward of prompt and image (Ma et al. 2025, 4.1); ``imagereward:DIR``.

    DIR is made by ``noisesearch convert ImageReward.pt DIR --imagereward --tokenizer bert-base-uncased``.
    """

    name = "imagereward"
    condition_kinds = ("prompt",)
    differentiable = True

    @classmethod
    def convert_checkpoint(cls, tensors: dict[str, torch.Tensor], folder, tokenizer: str = "bert-base-uncased",
                           config: Optional[dict] = None, **options) -> None:
        save_converted(tensors, folder, tokenizer, config)

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        from transformers import BertTokenizer

        options = parse_options(self.name, spec, {"model": None}, positional="model")
        if not options["model"]:
            raise UsageError("verifier 'imagereward' needs its converted weights: imagereward:DIR (make DIR with "
                             "`noisesearch convert ImageReward.pt DIR --imagereward`)")
        folder = Path(options["model"]).expanduser()
        for needed in ("config.json", "model.safetensors"):
            if not (folder / needed).is_file():
                raise UsageError(f"imagereward folder {options['model']!r} lacks {needed}; make it with "
                                 "`noisesearch convert ImageReward.pt DIR --imagereward`")
        self.model = ImageRewardModel(json.loads((folder / "config.json").read_text()))
        weights = folder / "model.safetensors"
        load_strict(self.model, weights, f"imagereward weights {str(weights)!r}")
        self.model.eval().requires_grad_(False)
        self.tokenizer = load_pretrained(BertTokenizer, str(folder), "ImageReward tokenizer")
        self._tokens: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _tokenize(self, prompts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        for prompt in dict.fromkeys(prompts):
            if prompt not in self._tokens:
                tokens = self.tokenizer(prompt, padding="max_length", truncation=True,
                                        max_length=self.model.config["max_length"], return_tensors="pt")
                self._tokens[prompt] = (tokens["input_ids"][0], tokens["attention_mask"][0])
        ids = torch.stack([self._tokens[p][0] for p in prompts]).to(device)
        mask = torch.stack([self._tokens[p][1] for p in prompts]).to(device)
        return ids, mask

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        ids, mask = self._tokenize([condition.prompt for condition in conditions], images.device)
        return self.model(images, ids, mask)
