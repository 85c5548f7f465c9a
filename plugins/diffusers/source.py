"""Reading a diffusers pipeline's description (``model_index.json`` and component configs) before loading it."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

from noisesearch.plugin import UsageError, first_line

DENOISERS = ("unet", "transformer", "prior")


def looks_like_hub_id(spec: str) -> bool:
    """``ORG/NAME`` with no path-like parts: a hub repository id."""
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~")) and not Path(spec).exists()


def read_json(source: str, name: str) -> Optional[dict]:
    """A JSON file of a local pipeline folder or a hub repository (None if the repository lacks it)."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        path = folder / name
        return json.loads(path.read_text()) if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return json.loads(Path(hf_hub_download(source, name)).read_text())
    except EntryNotFoundError as error:
        if isinstance(error, LocalEntryNotFoundError):  # offline and not cached
            raise UsageError(f"cannot read {name} of {source!r} from the hub: offline and not in the cache; "
                             "download the pipeline and give its folder") from None
        return None
    except Exception as error:  # offline, unknown repository, gated model, no network
        line = first_line(error, 160)
        raise UsageError(f"cannot read {name} of {source!r} from the hub ({line}); download the pipeline and "
                         "give its folder") from None


def pipeline_class(index: dict, source: str) -> type:
    """The diffusers pipeline class a ``model_index.json`` names."""
    import diffusers

    name = index.get("_class_name")
    cls = getattr(diffusers, name, None) if isinstance(name, str) else None
    if cls is None:
        raise UsageError(f"{source!r} names pipeline class {name!r}, which diffusers {diffusers.__version__} "
                         "does not have")
    return cls


def call_defaults(cls: type) -> dict[str, Any]:
    """The parameters of a pipeline's ``__call__`` and their defaults."""
    return {name: parameter.default for name, parameter in inspect.signature(cls.__call__).parameters.items()}


def default_size(cls: type, source: str, index: dict) -> Optional[int]:
    """The pipeline's default image side: its denoiser's sample size times the VAE's downsampling."""
    sample = getattr(cls, "default_sample_size", None)
    denoiser = next((name for name in DENOISERS if name in index), None)
    if sample is None and denoiser is not None:
        sample = (read_json(source, f"{denoiser}/config.json") or {}).get("sample_size")
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    vae = read_json(source, "vae/config.json") or {}
    blocks = vae.get("block_out_channels") or vae.get("encoder_block_out_channels")
    factor = 2 ** (len(blocks) - 1) if blocks else 8
    return int(sample) * factor if sample else None
