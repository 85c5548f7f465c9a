"""Configs of the shapes world's networks: the text-conditional diffusers UNet, its text encoder and shapes-clip."""

from __future__ import annotations

from noisesearch_plugins.worlds.networks import text_encoder_config as text_encoder_config_of, text_unet_config

from .scenes import IMAGE_SIZE
from .words import CONTEXT_LENGTH, vocabulary

TEXT_WIDTH = 64


def unet_config() -> dict:
    """A small pixel-space ``UNet2DConditionModel`` that cross-attends to the caption at 8x8 (2.5M parameters)."""
    return text_unet_config(IMAGE_SIZE, 3, (32, 64, 96), TEXT_WIDTH)


def text_encoder_config() -> dict:
    """A two-layer transformers ``CLIPTextModel`` over the grammar's words."""
    return text_encoder_config_of(vocabulary(), CONTEXT_LENGTH, TEXT_WIDTH)


def clip_config() -> dict:
    """The open_clip ``model_cfg`` of shapes-clip: a small ViT on 32x32 images and a text tower on our tokenizer."""
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": IMAGE_SIZE, "patch_size": 4, "width": 64, "layers": 3, "head_width": 32,
                       "mlp_ratio": 2.0},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": len(vocabulary()), "width": 64, "heads": 2,
                     "layers": 2, "mlp_ratio": 2.0, "hf_tokenizer_name": "shapes-words"},
    }
