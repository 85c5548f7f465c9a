"""Tiny text-to-video pipelines with random weights, saved the way hub checkpoints are: Wan 2.1 and 2.2, LTX-Video,
HunyuanVideo and CogVideoX, each under its default scheduler (32x32 frames, clips of 5 or 9 frames)."""

from __future__ import annotations

from pathlib import Path

from .tiny_models import _clip_text_config, _tiny_clip_tokenizer, _tiny_t5_encoder, _tiny_t5_tokenizer

WAN_SCHEDULERS = ("unipc", "euler", "dpm")


def _wan_transformer():
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
                                 out_channels=4, text_dim=32, freq_dim=32, ffn_dim=32, num_layers=1,
                                 rope_max_seq_len=32)


def _wan_scheduler(name: str):
    """Wan's default UniPC, the FlowMatchEuler step, or DPM-Solver++(2M), all on Wan's shifted flow sigmas."""
    from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    flow = dict(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return {"unipc": lambda: UniPCMultistepScheduler(**flow),
            "euler": lambda: FlowMatchEulerDiscreteScheduler(shift=3.0),
            "dpm": lambda: DPMSolverMultistepScheduler(**flow)}[name]()


def save_tiny_wan(folder: Path, seed: int = 0, scheduler: str = "unipc", experts: int = 1) -> Path:
    """A Wan 2.1 pipeline (UMT5 text encoder, Wan's causal video VAE; 4-channel latents); ``experts=2`` is Wan 2.2's
    layout, a high-noise and a low-noise transformer switched at ``boundary_ratio`` 0.875."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline
    from transformers import UMT5Config, UMT5EncoderModel

    folder = Path(folder)
    tokenizer, vocab = _tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=vocab, d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                               num_heads=2, relative_attention_num_buckets=8,
                                               decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
    vae = AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.1, -0.2, 0.3, 0.0],
                           latents_std=[1.5, 2.0, 0.8, 1.2])
    second = _wan_transformer() if experts == 2 else None
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=_wan_scheduler(scheduler),
                       transformer=_wan_transformer(), transformer_2=second,
                       boundary_ratio=0.875 if experts == 2 else None)
    pipe.save_pretrained(folder)
    return folder


def save_tiny_ltx(folder: Path, seed: int = 0) -> Path:
    """An LTX-Video pipeline (T5, packed latents, its VAE with 4x spatial and temporal compression)."""
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    folder = Path(folder)
    tokenizer, vocab = _tiny_t5_tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(latent_channels=8, block_out_channels=(8, 8, 8, 8),
                                decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                                decoder_layers_per_block=(1, 1, 1, 1, 1),
                                spatio_temporal_scaling=(True, True, False, False),
                                decoder_spatio_temporal_scaling=(True, True, False, False),
                                decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4,
                                upsample_factor=(1,) * 4, patch_size=1, patch_size_t=1, encoder_causal=True,
                                decoder_causal=False)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
                                             num_layers=1, caption_channels=32)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=_tiny_t5_encoder(vocab), tokenizer=tokenizer,
                transformer=transformer).save_pretrained(folder)
    return folder


def save_tiny_hunyuan_video(folder: Path, seed: int = 0) -> Path:
    """A HunyuanVideo pipeline (a Llama and a CLIP text encoder, embedded guidance, shift-7 flow matching)."""
    import torch
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline,
                           HunyuanVideoTransformer3DModel)
    from transformers import CLIPTextModel, LlamaConfig, LlamaModel

    folder = Path(folder)
    clip_tokenizer, clip_vocab = _tiny_clip_tokenizer(folder.parent / f".{folder.name}-vocab", max_length=77)
    tokenizer, vocab = _tiny_t5_tokenizer(max_length=512)
    torch.manual_seed(seed)
    llama = LlamaModel(LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=37, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                                   pad_token_id=0, bos_token_id=1, eos_token_id=1))
    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                    norm_num_groups=4, spatial_compression_ratio=8, temporal_compression_ratio=4)
    transformer = HunyuanVideoTransformer3DModel(in_channels=4, out_channels=4, num_attention_heads=2,
                                                 attention_head_dim=10, num_layers=1, num_single_layers=1,
                                                 num_refiner_layers=1, patch_size=1, patch_size_t=1,
                                                 text_embed_dim=16, pooled_projection_dim=16, rope_axes_dim=(2, 4, 4))
    HunyuanVideoPipeline(text_encoder=llama, tokenizer=tokenizer, transformer=transformer, vae=vae,
                         scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                         text_encoder_2=CLIPTextModel(_clip_text_config(clip_vocab, 77)),
                         tokenizer_2=clip_tokenizer).save_pretrained(folder)
    return folder


def save_tiny_cogvideox(folder: Path, seed: int = 0) -> Path:
    """A CogVideoX pipeline (T5, (B, F, C, H, W) latents, v-prediction DDIM with its SNR shift, zero terminal SNR)."""
    import torch
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline,
                           CogVideoXTransformer3DModel)

    folder = Path(folder)
    tokenizer, vocab = _tiny_t5_tokenizer(max_length=256)
    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1,
                                 norm_num_groups=2, temporal_compression_ratio=4)
    transformer = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4,
                                              out_channels=4, time_embed_dim=4, text_embed_dim=32, num_layers=1,
                                              sample_width=4, sample_height=4, sample_frames=5, patch_size=2,
                                              temporal_compression_ratio=4, max_text_seq_length=226)
    scheduler = CogVideoXDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       clip_sample=False, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                       set_alpha_to_one=True, snr_shift_scale=3.0, timestep_spacing="trailing")
    CogVideoXPipeline(tokenizer=tokenizer, text_encoder=_tiny_t5_encoder(vocab), vae=vae, transformer=transformer,
                      scheduler=scheduler).save_pretrained(folder)
    return folder
