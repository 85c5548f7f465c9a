"""Loading open_clip models by built-in name and tag, ``hf-hub:ORG/REPO`` or ``local-dir:/path``, with clean errors."""

from __future__ import annotations

import logging

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from noisesearch.plugin import ImageInput, UsageError, first_line


def check_spec(spec: str) -> None:
    """Raise a UsageError for a spec that cannot load: a missing folder or file, an unknown model or tag."""
    import open_clip

    if spec.startswith("local-dir:"):
        folder = Path(spec[len("local-dir:"):]).expanduser()
        if not folder.is_dir():
            raise UsageError(f"open_clip folder {str(folder)!r} does not exist; give local-dir:/path/to/folder")
        if not (folder / "open_clip_config.json").is_file():
            raise UsageError(f"open_clip folder {str(folder)!r} has no open_clip_config.json; save the model "
                             "with its config (or use hf-hub:ORG/REPO)")
        if not list(folder.glob("*.safetensors")):
            raise UsageError(f"open_clip folder {str(folder)!r} has no .safetensors weights; convert a .pt/.bin "
                             "checkpoint with `noisesearch convert`")
        return
    if spec.startswith("hf-hub:"):
        if not spec[len("hf-hub:"):].strip("/"):
            raise UsageError("open_clip spec hf-hub: needs ORG/REPO")
        return
    architecture, _, tag = spec.partition("/")
    if architecture not in open_clip.list_models():
        raise UsageError(f"unknown open_clip model {architecture!r}; give ARCH/TAG (e.g. ViT-L-14/openai), "
                         "hf-hub:ORG/REPO or local-dir:/path")
    tags = open_clip.list_pretrained_tags_by_model(architecture)
    if tag not in tags:
        raise UsageError(f"open_clip model {architecture!r} has no pretrained tag {tag!r}; "
                         f"known tags: {', '.join(tags) or '(none)'}")


class OpenCLIP(nn.Module):
    """An open_clip model with batched, differentiable image input and cached text features per prompt."""

    def __init__(self, spec: str):
        super().__init__()
        import open_clip

        check_spec(spec)
        architecture, _, tag = spec.partition("/")
        schema = spec.startswith(("local-dir:", "hf-hub:"))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.CRITICAL)  # open_clip logs a failed download before raising it; the error says it once
        try:
            self.model = open_clip.create_model(spec if schema else architecture, pretrained=None if schema else tag,
                                                require_pretrained=True)
            self.tokenizer = open_clip.get_tokenizer(spec if schema else architecture)
        except (OSError, RuntimeError, ValueError) as error:
            raise UsageError(f"could not load open_clip model {spec!r} ({first_line(error)}); without the hub, "
                             "save it to a folder and give local-dir:/path") from None
        finally:
            root.setLevel(level)
        self.model.eval().requires_grad_(False)
        cfg = self.model.visual.preprocess_cfg
        height, width = _pair(cfg.get("size", self.model.visual.image_size))
        self.input = ImageInput(height, width, tuple(cfg["mean"]), tuple(cfg["std"]))
        self._texts: dict[str, torch.Tensor] = {}

    @property
    def embed_dim(self) -> int:
        return int(self.model.visual.output_dim)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings of images in [0, 1]."""
        return F.normalize(self.model.encode_image(self.input(images, self.model)).float(), dim=-1)

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm text embeddings, each text encoded once per run."""
        device = next(self.model.parameters()).device
        missing = [text for text in dict.fromkeys(texts) if text not in self._texts]
        if missing:
            with torch.no_grad():
                encoded = F.normalize(self.model.encode_text(self.tokenizer(missing).to(device)).float(), dim=-1)
            self._texts.update({text: row for text, row in zip(missing, encoded)})
        return torch.stack([self._texts[text] for text in texts]).to(device)

    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
