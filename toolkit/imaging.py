"""Image preprocessing as batched, differentiable tensor ops (no PIL round trip): resize, crop, normalise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from PIL import Image


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) with 1, 3 or 4 channels as three channels (grey repeated, alpha dropped)."""
    if images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    if images.shape[1] == 4:
        return images[:, :3]
    if images.shape[1] != 3:
        raise ValueError(f"images need 1, 3 or 4 channels, got {images.shape[1]}")
    return images


PIL_BITS = 22  # the fixed-point precision of Pillow's 8-bit resampling


def _pil_bicubic(x: float) -> float:
    x = abs(x)
    if x < 1:
        return (1.5 * x - 2.5) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * -0.5
    return 0.0


def pil_weights(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in) fixed-point weights of Pillow's bicubic resampling along one axis (a = -0.5, support
    widened by the scale when shrinking, each row normalised, then rounded to ``PIL_BITS`` bits), in float64."""
    scale = size_in / size_out
    widen = max(scale, 1.0)
    support = 2.0 * widen
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    for out in range(size_out):
        centre = (out + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), size_in)
        row = [_pil_bicubic((x - centre + 0.5) / widen) for x in range(first, last)]
        total = sum(row)
        for offset, value in enumerate(row):
            value = value / total if total else value
            weights[out, first + offset] = int(value * (1 << PIL_BITS) + (0.5 if value >= 0 else -0.5))
    return weights


def resize_like_pil(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize as Pillow's ``Image.resize(..., BICUBIC)`` does an 8-bit image, value for value: a horizontal then a
    vertical pass, each in fixed point and rounded to 8 bits. The gradient is that of torch's antialiased bicubic."""
    h, w = images.shape[-2:]
    smooth = F.interpolate(images, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    exact = (images.detach().clamp(0, 1) * 255).round().double()
    half = float(1 << (PIL_BITS - 1))
    if width != w:
        exact = torch.floor((exact @ pil_weights(w, width).to(exact.device).T + half) / (1 << PIL_BITS)).clamp(0, 255)
    if height != h:
        exact = torch.floor((pil_weights(h, height).to(exact.device) @ exact + half) / (1 << PIL_BITS)).clamp(0, 255)
    return smooth + (exact.to(smooth.dtype) / 255 - smooth).detach()


def resize_center_crop(images: torch.Tensor, height: int, width: int, like_pil: bool = False) -> torch.Tensor:
    """Resize the shortest edge to cover ``height`` x ``width`` (bicubic, antialiased; ``like_pil``: as Pillow does an
    8-bit image), then crop the centre."""
    h, w = images.shape[-2:]
    if height == width:  # as torchvision's and transformers' Resize(int): the long side's size is floored
        short, long = sorted((h, w))
        size = (height, max(height, int(height * long / short)))
        size = size if h <= w else size[::-1]
    else:
        scale = max(height / h, width / w)
        size = (max(height, round(h * scale)), max(width, round(w * scale)))
    if size != (h, w) and like_pil:
        images = resize_like_pil(images, *size)
    elif size != (h, w):
        images = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=size[0] < h)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return images[..., top : top + height, left : left + width]


def resize_pad(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the longest edge to ``size`` (bicubic, antialiased, on floats) and pad the rest with black, centred
    (HPSv2's ``ResizeMaxSize``: nothing of the image is cropped)."""
    h, w = images.shape[-2:]
    scale = size / max(h, w)
    if scale == 1.0:
        return images
    new = (round(h * scale), round(w * scale))
    images = F.interpolate(images, size=new, mode="bicubic", align_corners=False, antialias=True)
    pad_h, pad_w = size - new[0], size - new[1]
    return F.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)


@dataclass(frozen=True)
class ImageInput:
    """What an image model expects: size, and per-channel mean and std of the normalisation."""

    height: int
    width: int
    mean: Sequence[float]
    std: Sequence[float]
    eight_bit: bool = False  # round the resized image to 8 bits, as a reference that resizes PIL images does
    fit: str = "crop"  # "crop": shortest edge resized, centre cropped; "pad": longest edge resized, padded black
    like_pil: bool = False  # resize as Pillow does 8-bit images (a reference that resizes PIL images), value for value

    def __call__(self, images: torch.Tensor, like: Optional[torch.nn.Module] = None) -> torch.Tensor:
        """Images in [0, 1] to the model's normalised input, in the dtype of ``like``'s weights when given."""
        if self.fit == "pad":
            images = resize_pad(to_rgb(images.float()), self.height)
        else:
            images = resize_center_crop(to_rgb(images.float()), self.height, self.width, self.like_pil).clamp(0, 1)
        if self.eight_bit:  # straight through: the rounding is seen, the gradient passes as if it were not
            images = images + ((images * 255).round() / 255 - images).detach()
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        normalised = (images - mean) / std
        parameter = next(like.parameters(), None) if like is not None else None
        return normalised.to(parameter.dtype) if parameter is not None else normalised


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as 8-bit values, rounded exactly as the PNGs of a run are (lossless against them)."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8)


def to_pil(image: torch.Tensor) -> "Image.Image":
    """One image in [0, 1] (C, H, W) as an 8-bit PIL image (grey for one channel), the bytes of a run's PNG; a clip
    (F, C, H, W) as its frame strip."""
    from PIL import Image

    if image.dim() == 4:
        from .clips import strip

        return strip(to_uint8(image.detach().cpu()))
    array = to_uint8(image.detach().cpu()).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """8-bit images back in [0, 1] (``to_uint8`` of the result gives the same bytes)."""
    return images.float() / 255


def shrunk(images: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    """A batch with its longer side at most ``size`` pixels (area-averaged; None or a larger size: as it is); a batch
    of clips frame by frame."""
    h, w = images.shape[-2:]
    if size is None or max(h, w) <= size:
        return images
    scale = size / max(h, w)
    flat = images.float().flatten(0, images.dim() - 4)
    small = F.interpolate(flat, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    return small.reshape(*images.shape[:-2], *small.shape[-2:])


def thumbnails(images: torch.Tensor, size: int = 96) -> torch.Tensor:
    """8-bit thumbnails of a batch, the longer side at most ``size`` (area-averaged), for run reports; clips keep at
    most 16 frames, evenly spaced."""
    if images.dim() == 5:
        from .clips import judged_frames

        images = images[:, judged_frames(images.shape[1], 16)]
    return to_uint8(shrunk(images, size))


def pooled(output) -> torch.Tensor:
    """Projected CLIP features from either a tensor or a transformers output object (transformers 4 and 5)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
