"""Configs of the shapes world's networks: the text-conditional diffusers UNet, its text encoder and shapes-clip."""

from __future__ import annotations

from .scenes import IMAGE_SIZE
from .words import CONTEXT_LENGTH, vocabulary

TEXT_WIDTH = 64


def unet_config() -> dict:
    """A small pixel-space ``UNet2DConditionModel`` that cross-attends to the caption at 8x8 (2.5M parameters)."""
    return dict(
        sample_size=IMAGE_SIZE,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=16,
        norm_num_groups=16,
    )


def text_encoder_config() -> dict:
    """A two-layer transformers ``CLIPTextModel`` over the grammar's words."""
    vocab = vocabulary()
    return dict(vocab_size=len(vocab), hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=CONTEXT_LENGTH, pad_token_id=0,
                bos_token_id=vocab.index("[BOS]"), eos_token_id=vocab.index("[EOS]"))


def clip_config() -> dict:
    """The open_clip ``model_cfg`` of shapes-clip: a small ViT on 32x32 images and a text tower on our tokenizer."""
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": IMAGE_SIZE, "patch_size": 4, "width": 64, "layers": 3, "head_width": 32,
                       "mlp_ratio": 2.0},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": len(vocabulary()), "width": 64, "heads": 2,
                     "layers": 2, "mlp_ratio": 2.0, "hf_tokenizer_name": "shapes-words"},
    }
