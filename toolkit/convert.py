"""``noisesearch convert``: published ``.pt``/``.pth`` checkpoints to the safetensors layouts verifiers load."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import registry
from .errors import UsageError, first_line


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, unpickled with ``weights_only=True`` (no code runs); ``state_dict`` is unwrapped."""
    if not path.is_file():
        raise UsageError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the unpickler refuses anything but tensors and plain containers
        raise UsageError(f"cannot read {str(path)!r} as plain tensors ({first_line(error, 160)})") from None
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise UsageError(f"{str(path)!r} holds no state dict of tensors")
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}


def to_open_clip_folder(tensors: dict[str, torch.Tensor], folder: Path, architecture: str) -> None:
    """A ``local-dir:`` folder: the built-in config of ``architecture`` and the weights as safetensors."""
    import open_clip

    config = open_clip.get_model_config(architecture)
    if config is None:
        raise UsageError(f"unknown open_clip architecture {architecture!r}; see open_clip.list_models()")
    model = open_clip.create_model(architecture)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise UsageError(f"these weights are no {architecture}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {key: value for key, value in model.visual.preprocess_cfg.items() if key in ("mean", "std")}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": preprocess}))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "open_clip_model.safetensors"))


def main(args: list[str]) -> int:
    """Convert one checkpoint: to a .safetensors file, an open_clip folder, or the folder a verifier loads."""
    parser = argparse.ArgumentParser(prog="noisesearch convert", description=__doc__)
    parser.add_argument("source", type=Path, help="the published .pt / .pth / .bin checkpoint")
    parser.add_argument("target", type=Path, help="OUT.safetensors, or a folder with --open-clip, --to or --imagereward")
    parser.add_argument("--open-clip", metavar="ARCH", help="write a local-dir: folder for open_clip model ARCH")
    parser.add_argument("--to", metavar="VERIFIER", help="write the folder verifier VERIFIER loads (a verifier with a "
                        "converter: imagereward)")
    parser.add_argument("--imagereward", action="store_true", help="the same as --to imagereward")
    parser.add_argument("--tokenizer", default="bert-base-uncased", help="BERT tokenizer of --to imagereward")
    parser.add_argument("--config", type=Path, help="with --to: a JSON file of the model's sizes, for a checkpoint "
                        "of another size than the published one")
    options = parser.parse_args(args)
    target = "imagereward" if options.imagereward else options.to
    verifier = registry.lookup("verifiers", target).cls if target else None
    tensors = load_tensors(options.source)
    if verifier is not None:
        sizes = None
        if options.config is not None:
            try:
                sizes = json.loads(options.config.read_text())
            except (OSError, ValueError) as error:
                raise UsageError(f"--config {options.config}: {error}") from None
        verifier.convert_checkpoint(tensors, options.target, tokenizer=options.tokenizer, config=sizes)
    elif options.open_clip:
        to_open_clip_folder(tensors, options.target, options.open_clip)
    else:
        if options.target.suffix != ".safetensors":
            raise UsageError("the target of a plain conversion is a .safetensors file")
        options.target.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(options.target))
    print(f"wrote {options.target}")
    return 0
