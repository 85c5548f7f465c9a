"""Verifier ``classifier``: probability of the conditioning class under a transformers image classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import torch

from noisesearch.plugin import Condition, UsageError, Verifier, parse_options

from .hf_models import image_input, load_pretrained


def read_label_map(path: str) -> dict[int, list[int]]:
    """A JSON object from pipeline class to the classifier's label id (or a list of ids, summed)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"label map {path!r} does not exist; give a JSON file {{\"0\": 3, \"1\": [4, 5]}}")
    try:
        raw = json.loads(file.read_text())
        return {int(key): [int(v) for v in (value if isinstance(value, list) else [value])] for key, value in raw.items()}
    except (ValueError, AttributeError, TypeError):
        raise UsageError(f"label map {path!r} must be a JSON object from class to label id(s)") from None


class ClassifierVerifier(Verifier):
    """Classifier verifier (Ma et al. 2025, 3.2): the conditioning class's softmax probability; differentiable.

    Spec ``classifier:model=HUB_ID_OR_FOLDER,labels=FILE.json``, e.g. ``classifier:facebook/dinov2-base-imagenet1k-1-
    layer`` for ImageNet models; without ``labels`` pipeline class i is the classifier's label i.
    """

    name = "classifier"
    condition_kinds = ("class",)
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        options = parse_options(self.name, spec, {"model": None, "labels": None}, positional="model")
        if not options["model"]:
            raise UsageError("verifier 'classifier' needs a model: classifier:HUB_ID or classifier:/path/to/folder")
        self.model = load_pretrained(AutoModelForImageClassification, options["model"], "image classifier",
                                     use_safetensors=True)
        self.model.eval().requires_grad_(False)
        self.input = image_input(load_pretrained(AutoImageProcessor, options["model"], "image processor"))
        self.label_map = read_label_map(options["labels"]) if options["labels"] else None
        num_labels = self.model.config.num_labels
        if self.label_map is not None and any(i >= num_labels or i < 0 for ids in self.label_map.values() for i in ids):
            raise UsageError(f"label map {options['labels']!r} names labels outside the classifier's 0-{num_labels - 1}")

    def attach(self, pipeline: type) -> None:
        classes = pipeline.num_classes
        if classes is None:
            return
        if self.label_map is None and classes > self.model.config.num_labels:
            raise UsageError(f"pipeline {pipeline.name!r} has {classes} classes but the classifier only "
                             f"{self.model.config.num_labels} labels; give classifier:labels=FILE.json")
        if self.label_map is not None and set(range(classes)) - set(self.label_map):
            raise UsageError(f"label map lacks pipeline classes {sorted(set(range(classes)) - set(self.label_map))}")

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        probabilities = self.model(pixel_values=self.input(images, self.model)).logits.float().softmax(dim=-1)
        if self.label_map is None:
            index = torch.tensor([[c.class_label] for c in conditions], device=probabilities.device)
            return probabilities.gather(1, index).squeeze(1)
        mask = torch.zeros(len(conditions), probabilities.shape[1], device=probabilities.device)
        for row, condition in enumerate(conditions):
            mask[row, self.label_map[condition.class_label]] = 1.0
        return (probabilities * mask).sum(dim=1)
