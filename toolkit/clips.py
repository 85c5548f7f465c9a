"""Clips: a video sample is (F, C, H, W) in [0, 1] (a batch (B, F, C, H, W)); image verifiers judge some of its
frames and their scores make the clip's (``model.clip_frames``, ``model.clip_aggregate``); a clip is drawn as a
frame strip (its PNG), an animated WebP (reports, grids) and an MP4."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from PIL import Image

AGGREGATES = ("mean", "min", "first", "last")
FRAME_RATE = 8  # frames per second of animations where the family names none


def is_clip_batch(samples: torch.Tensor) -> bool:
    """Whether a batch of samples is a batch of clips (B, F, C, H, W)."""
    return samples.dim() == 5


def judged_frames(count: int, wanted: int, aggregate: str = "mean") -> list[int]:
    """The frames of a ``count``-frame clip an image verifier judges: the first or last alone for those aggregates,
    else ``wanted`` evenly spaced with the first and last (every frame when the clip has no more)."""
    if aggregate == "first":
        return [0]
    if aggregate == "last":
        return [count - 1]
    if count <= wanted:
        return list(range(count))
    if wanted == 1:
        return [count // 2]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def frames_of(clips: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
    """The chosen frames of every clip as one batch of images, clip by clip: (B * len(indices), C, H, W)."""
    return clips[:, list(indices)].flatten(0, 1)


def combine(scores: torch.Tensor, clips: int, aggregate: str) -> torch.Tensor:
    """Per-frame scores (clip by clip) as one score per clip; differentiable for mean and min."""
    per_clip = scores.reshape(clips, -1)
    if aggregate == "min":
        return per_clip.min(dim=1).values
    return per_clip.mean(dim=1)  # mean; first and last judged one frame


def strip(clip8: torch.Tensor, most: int = 16) -> "Image.Image":
    """An 8-bit clip (F, C, H, W) as one image, frames side by side (at most ``most``, evenly spaced)."""
    from PIL import Image

    chosen = clip8[judged_frames(clip8.shape[0], most)]
    array = chosen.permute(2, 0, 3, 1).reshape(chosen.shape[2], -1, chosen.shape[1]).cpu().numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array[..., :3])


def pil_frames(clip8: torch.Tensor) -> "list[Image.Image]":
    """An 8-bit clip's frames as PIL images."""
    from PIL import Image

    arrays = clip8.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a[..., :3]) for a in arrays]


def animated_webp(frames: "list[Image.Image]", fps: float = FRAME_RATE, lossless: bool = True) -> bytes:
    """Frames as an animated WebP (looping), what reports and grids embed."""
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=0, lossless=lossless, quality=80)
    return buffer.getvalue()


def write_mp4(path: Path, clip8: torch.Tensor, fps: float = FRAME_RATE) -> None:
    """An 8-bit clip (F, C, H, W) as an H.264 MP4 (yuv420p; odd sides padded by one pixel, as the codec needs)."""
    import av
    import numpy as np

    arrays = clip8.permute(0, 2, 3, 1).cpu().numpy()
    if arrays.shape[-1] == 1:
        arrays = np.repeat(arrays, 3, axis=-1)
    arrays = arrays[..., :3]
    height, width = arrays.shape[1] + arrays.shape[1] % 2, arrays.shape[2] + arrays.shape[2] % 2
    arrays = np.pad(arrays, ((0, 0), (0, height - arrays.shape[1]), (0, width - arrays.shape[2]), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for array in arrays:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
