"""Configs of the motion world's networks: the clip denoiser, its text encoder and motion-clip."""

from __future__ import annotations

from noisesearch_plugins.shapes.scenes import IMAGE_SIZE
from noisesearch_plugins.worlds.networks import text_encoder_config as text_encoder_config_of, text_unet_config

from .movers import FRAMES
from .words import CONTEXT_LENGTH, vocabulary

TEXT_WIDTH = 64
WEAVE = 3  # motion-clip sees the frames woven pixel by pixel: each pixel becomes a 3x3 cell of its frames' values


def unet_config() -> dict:
    """A pixel-space ``UNet2DConditionModel`` over a clip's frames stacked as channels (3 x FRAMES in and out),
    cross-attending to the caption at 8x8: it sees the whole clip at once, so motion is one pattern to learn."""
    return text_unet_config(IMAGE_SIZE, 3 * FRAMES, (48, 64, 96), TEXT_WIDTH)


def text_encoder_config() -> dict:
    """A two-layer transformers ``CLIPTextModel`` over the grammar's words."""
    return text_encoder_config_of(vocabulary(), CONTEXT_LENGTH, TEXT_WIDTH)


def clip_config() -> dict:
    """The open_clip ``model_cfg`` of motion-clip: a small ViT on the woven clip (96x96; 12-pixel patches, so each
    patch holds one 4x4 region of every frame and motion shows inside a patch)."""
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": WEAVE * IMAGE_SIZE, "patch_size": 4 * WEAVE, "width": 64, "layers": 3,
                       "head_width": 32, "mlp_ratio": 2.0},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": len(vocabulary()), "width": 64, "heads": 2,
                     "layers": 2, "mlp_ratio": 2.0, "hf_tokenizer_name": "motion-words"},
    }


def weave(clips):
    """Clips (B, F, C, H, W) as one image each (B, C, 3H, 3W): pixel (y, x) of frame f at (3y + f // 3, 3x + f % 3);
    the cells' last WEAVE**2 - F places stay black."""
    b, f, c, h, w = clips.shape
    slots = clips.new_zeros(b, WEAVE * WEAVE, c, h, w)
    slots[:, :f] = clips
    cells = slots.reshape(b, WEAVE, WEAVE, c, h, w).permute(0, 3, 4, 1, 5, 2)
    return cells.reshape(b, c, WEAVE * h, WEAVE * w)
