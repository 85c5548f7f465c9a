"""Verifier ``clip-zeroshot``: probability of the conditioning class under zero-shot open_clip (Radford et al. 2021)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from noisesearch.plugin import Condition, UsageError, Verifier, parse_options

from .openclip_models import OpenCLIP

DEFAULT_TEMPLATES = ("a photo of a {}.", "a drawing of a {}.", "a close-up photo of a {}.", "a rendering of a {}.")


def read_list(option: str, path: str) -> list[str]:
    """A list of strings from a JSON list file or a text file with one entry per line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"{option} file {path!r} does not exist; give a JSON list or a text file, one per line")
    text = file.read_text()
    if file.suffix == ".json":
        items = json.loads(text)
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise UsageError(f"{option} file {path!r} must hold a JSON list of strings")
        return items
    return [line.strip() for line in text.splitlines() if line.strip()]


class CLIPZeroShot(Verifier):
    """Zero-shot classifier verifier (Ma et al. 2025, 3.2): softmax over class prompts, the conditioning class's share.

    Spec ``clip-zeroshot:model=MODEL,classes=FILE,templates=FILE``; class names default to the pipeline's
    (ImageNet's for 1000-class families), templates to a few photo/drawing prompts with ``{}`` for the name.
    """

    name = "clip-zeroshot"
    condition_kinds = ("class",)
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, {"model": "ViT-L-14/openai", "classes": None, "templates": None},
                                positional="model")
        self.class_names = read_list("classes", options["classes"]) if options["classes"] else None
        self.templates = read_list("templates", options["templates"]) if options["templates"] else list(DEFAULT_TEMPLATES)
        if any("{}" not in template for template in self.templates):
            raise UsageError("every clip-zeroshot template needs {} where the class name goes")
        self.clip = OpenCLIP(options["model"])
        self.weights: Optional[torch.Tensor] = None

    def attach(self, pipeline: type) -> None:
        names = self.class_names or getattr(pipeline, "class_names", None)
        if names is None and getattr(pipeline, "num_classes", None) == 1000:
            from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

            names = IMAGENET_CLASSNAMES
        if names is None:
            raise UsageError(f"clip-zeroshot needs class names for pipeline {pipeline.name!r}: "
                             "give clip-zeroshot:classes=FILE (one name per line)")
        if pipeline.num_classes is not None and len(names) != pipeline.num_classes:
            raise UsageError(f"clip-zeroshot has {len(names)} class names but pipeline {pipeline.name!r} has "
                             f"{pipeline.num_classes} classes")
        self.class_names = list(names)
        self.weights = None

    def _classifier(self) -> torch.Tensor:
        if self.weights is None:
            if self.class_names is None:
                raise RuntimeError("clip-zeroshot scored before attach() gave it class names")
            rows = []
            for name in self.class_names:
                features = self.clip.text_features([template.format(name) for template in self.templates])
                rows.append(F.normalize(features.mean(dim=0), dim=-1))
            self.weights = torch.stack(rows)
        return self.weights

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        weights = self._classifier().to(images.device)
        logits = self.clip.logit_scale() * self.clip.image_features(images) @ weights.T
        labels = torch.tensor([condition.class_label for condition in conditions], device=images.device)
        return logits.softmax(dim=-1).gather(1, labels[:, None]).squeeze(1)
