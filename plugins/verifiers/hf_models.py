"""Loading transformers models by hub id or local folder: safetensors only, no remote code, clean errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from noisesearch.plugin import ImageInput, UsageError, first_line


def check_source(spec: str, what: str, weights: bool = True) -> None:
    """Raise a UsageError for a missing local folder, or (``weights``) one without a config or safetensors."""
    folder = Path(spec).expanduser()
    looks_local = folder.is_absolute() or spec.startswith((".", "~")) or folder.exists()
    if not looks_local:
        return
    if not folder.is_dir():
        raise UsageError(f"{what} folder {spec!r} does not exist")
    if not weights:
        return
    if not (folder / "config.json").is_file():
        raise UsageError(f"{what} folder {spec!r} has no config.json; save the model with save_pretrained")
    if not list(folder.glob("*.safetensors")):
        raise UsageError(f"{what} folder {spec!r} has no .safetensors weights; save with safe_serialization")


def load_pretrained(loader: Any, spec: str, what: str, **kwargs) -> Any:
    """``loader.from_pretrained(spec)`` without remote code, or a one-line UsageError; models pass
    ``use_safetensors=True``, and their local folders must hold config.json and .safetensors weights."""
    check_source(spec, what, weights="use_safetensors" in kwargs)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return loader.from_pretrained(spec, trust_remote_code=False, **kwargs)
    except (OSError, ValueError, KeyError) as error:
        line = first_line(error)
        raise UsageError(f"could not load {what} {spec!r} ({line}); without the hub, give a local folder "
                         "saved with save_pretrained") from None


def image_input(processor: Any) -> ImageInput:
    """The size, mean and std a transformers image processor applies, as a tensor preprocessing step."""
    size = getattr(processor, "crop_size", None) or getattr(processor, "size", None) or {}
    if not isinstance(size, dict):
        size = dict(size)
    if "height" in size:
        height, width = size["height"], size["width"]
    else:
        height = width = size.get("shortest_edge", 224)
    # transformers' processors resize 8-bit images (PIL or uint8 tensors): the resized image is 8-bit there too
    return ImageInput(int(height), int(width), tuple(processor.image_mean), tuple(processor.image_std), eight_bit=True)
