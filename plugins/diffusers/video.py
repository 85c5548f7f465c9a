"""Video families: what the native adapter needs to know of each text-to-video pipeline beyond its captured call
(how it guides, which expert denoises a level, how its latents decode to frames), and the clip length checks.

Each decoder is the pipeline's own decoding after its denoising loop (undo the VAE's normalisation, unpack LTX's
sequence, move CogVideoX's frame axis), then its ``video_processor``: clips (B, F, C, H, W) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch


def _wan(pipe, z: torch.Tensor, run) -> torch.Tensor:
    vae = pipe.vae
    view = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(view).to(z.device, vae.dtype)
    std = torch.tensor(vae.config.latents_std).view(view).to(z.device, vae.dtype)
    return vae.decode(z.to(vae.dtype) * std + mean, return_dict=False)[0]


def _ltx_unpacked(pipe, z: torch.Tensor, run) -> torch.Tensor:
    frames = (run.frames - 1) // pipe.vae_temporal_compression_ratio + 1
    height, width = run.height // pipe.vae_spatial_compression_ratio, run.width // pipe.vae_spatial_compression_ratio
    return pipe._unpack_latents(z, frames, height, width, pipe.transformer_spatial_patch_size,
                                pipe.transformer_temporal_patch_size)


def _ltx(pipe, z: torch.Tensor, run) -> torch.Tensor:
    vae = pipe.vae
    z = pipe._denormalize_latents(z, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    # decode_timestep 0 (the pipeline's default): its decode noise has scale 0, so decoding draws nothing
    timestep = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype) if vae.config.timestep_conditioning else None
    return vae.decode(z.to(vae.dtype), timestep, return_dict=False)[0]


def _hunyuan(pipe, z: torch.Tensor, run) -> torch.Tensor:
    return pipe.vae.decode(z.to(pipe.vae.dtype) / pipe.vae.config.scaling_factor, return_dict=False)[0]


def _cogvideox(pipe, z: torch.Tensor, run) -> torch.Tensor:
    return pipe.decode_latents(z.to(pipe.vae.dtype))


def _as_is(pipe, z: torch.Tensor, run) -> torch.Tensor:
    return z


@dataclass(frozen=True)
class VideoFamily:
    """How one text-to-video pipeline runs beyond what capturing its first call shows."""

    decode: Callable[..., torch.Tensor]  # the VAE's latents (frames on ``frame_axis``) to the pipeline's video
    unpack: Callable[..., torch.Tensor] = _as_is  # the denoiser's latents to the VAE's (LTX-Video packs them)
    frame_axis: int = 2  # where the VAE's latents keep latent frames (CogVideoX: 1)
    separate_guidance: bool = False  # guided by two denoiser calls (conditioned, then null), not a doubled batch
    experts: bool = False  # Wan 2.2: ``transformer`` above ``boundary_ratio``, ``transformer_2`` below


VIDEO_FAMILIES = {
    "WanPipeline": VideoFamily(_wan, separate_guidance=True, experts=True),
    "LTXPipeline": VideoFamily(_ltx, unpack=_ltx_unpacked),
    "HunyuanVideoPipeline": VideoFamily(_hunyuan),
    "CogVideoXPipeline": VideoFamily(_cogvideox, frame_axis=1),
}


def decode_clips(pipe, pipeline_name: str, z: torch.Tensor, run) -> torch.Tensor:
    """Latents of the denoiser's frame as clips (B, F, C, H, W) in [0, 1], as the pipeline decodes them."""
    family = VIDEO_FAMILIES[pipeline_name]
    return _postprocessed(pipe, family.decode(pipe, family.unpack(pipe, z, run), run))


def decode_some_frames(pipe, pipeline_name: str, z: torch.Tensor, run, count: int) -> torch.Tensor:
    """A cheap preview (``model.preview_frames``): ``count`` latent frames evenly spaced from first to last, each
    decoded on its own as a one-frame clip (the first exactly as in the whole clip, a causal VAE's first frame; the
    others without the frames before them), as clips (B, count, C, H, W) in [0, 1]."""
    family = VIDEO_FAMILIES[pipeline_name]
    latents = family.unpack(pipe, z, run).movedim(family.frame_axis, 1)  # (B, T, ...)
    batch, total = latents.shape[:2]
    picks = torch.linspace(0, total - 1, min(count, total)).round().long().unique().to(latents.device)
    single = latents.index_select(1, picks).flatten(0, 1).unsqueeze(1).movedim(1, family.frame_axis)
    frames = _postprocessed(pipe, family.decode(pipe, single, run))  # (B * K, 1, C, H, W)
    return frames.reshape(batch, len(picks), *frames.shape[2:])


def _postprocessed(pipe, video: torch.Tensor) -> torch.Tensor:
    """The pipeline's video (B, C, F, H, W) as clips (B, F, C, H, W) in [0, 1]."""
    return pipe.video_processor.postprocess_video(video.float(), output_type="pt").float()


def temporal_ratio(vae_config: dict) -> int:
    """How many frames one latent frame stands for, from a video VAE's config (1 where it does not say)."""
    if vae_config.get("scale_factor_temporal"):
        return int(vae_config["scale_factor_temporal"])
    if vae_config.get("temperal_downsample") is not None:  # Wan's spelling
        return 2 ** sum(bool(step) for step in vae_config["temperal_downsample"])
    if vae_config.get("temporal_compression_ratio"):
        return int(vae_config["temporal_compression_ratio"])
    if vae_config.get("spatio_temporal_scaling") is not None:  # LTX-Video: patches times its scalings
        return int(vae_config.get("patch_size_t", 1)) * 2 ** sum(bool(s) for s in vae_config["spatio_temporal_scaling"])
    return 1


def nearest_frames(frames: int, ratio: int) -> int:
    """The clip length nearest ``frames`` that a VAE compressing time by ``ratio`` makes (1 + a multiple)."""
    return max(1, round((frames - 1) / ratio)) * ratio + 1


def expert_of(pipe, timestep: float) -> int:
    """Wan 2.2: 0 (``transformer``, high noise) at or above its boundary timestep, 1 (``transformer_2``) below."""
    ratio: Optional[float] = pipe.config.get("boundary_ratio") if hasattr(pipe, "config") else None
    if ratio is None or getattr(pipe, "transformer_2", None) is None:
        return 0
    return 0 if timestep >= ratio * pipe.scheduler.config.num_train_timesteps else 1
