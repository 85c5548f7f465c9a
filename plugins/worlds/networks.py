"""Network configs the text worlds share: a small pixel-space text-conditional UNet and a CLIP text encoder."""

from __future__ import annotations


def text_unet_config(size: int, channels: int, block_out_channels: tuple[int, ...], text_width: int) -> dict:
    """A pixel-space ``UNet2DConditionModel`` with ``channels`` in and out that cross-attends to the caption at its
    lowest resolution."""
    return dict(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=block_out_channels,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=text_width,
        attention_head_dim=16,
        norm_num_groups=16,
    )


def text_encoder_config(vocab: list[str], context_length: int, width: int) -> dict:
    """A two-layer transformers ``CLIPTextModel`` over a world's words."""
    return dict(vocab_size=len(vocab), hidden_size=width, intermediate_size=4 * width, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=context_length, pad_token_id=0,
                bos_token_id=vocab.index("[BOS]"), eos_token_id=vocab.index("[EOS]"))
