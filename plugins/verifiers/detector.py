"""Zero-shot object detection with a transformers OWL-ViT or OWLv2 (Minderer et al. 2022, 2023) by hub id or folder."""

from __future__ import annotations

from typing import Sequence

import torch

from noisesearch.plugin import UsageError

from .geneval_rules import Detection
from .hf_models import load_pretrained

FAMILIES = ("owlv2", "owlvit")


def query(name: str) -> str:
    """The text query of an object name, in the form OWL's detectors were trained on."""
    return f"a photo of a {name}"


class ZeroShotDetector(torch.nn.Module):
    """Boxes and confidences of named objects: each box goes to the image's own name it matches best."""

    def __init__(self, spec: str):
        super().__init__()
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self.processor = load_pretrained(AutoProcessor, spec, "detector processor")
        self.model = load_pretrained(AutoModelForZeroShotObjectDetection, spec, "detector", use_safetensors=True)
        family = self.model.config.model_type
        if family not in FAMILIES:
            raise UsageError(f"detector {spec!r} is a {family}; geneval reads boxes of OWLv2 or OWL-ViT detectors "
                             "(e.g. google/owlv2-base-patch16-ensemble)")
        self.model.eval().requires_grad_(False)
        # OWLv2 pads every image to a square before resizing, so its boxes are fractions of the longer side
        self.square = bool(getattr(self.processor.image_processor, "do_pad", False))

    @torch.no_grad()
    def detect(self, images: torch.Tensor, names: Sequence[Sequence[str]], top: int = 16
               ) -> list[dict[str, list[Detection]]]:
        """Per image in [0, 1] (B, C, H, W), the ``top`` most confident boxes of each of its names (each box counts
        for the name it matches best; sigmoid confidence), most confident first."""
        queries = list(dict.fromkeys(name for own in names for name in own))
        inputs = self.processor(text=[[query(name) for name in queries]] * len(images), images=list(images.float()),
                                return_tensors="pt", do_rescale=False, truncation=True)
        parameter = next(self.model.parameters())
        inputs = {key: value.to(parameter.device, parameter.dtype if value.is_floating_point() else value.dtype)
                  for key, value in inputs.items()}
        outputs = self.model(**inputs)
        height, width = images.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        if self.square:
            scale = torch.full((4,), float(max(height, width)))
        found = []
        for logits, boxes, own in zip(outputs.logits.float().cpu(), outputs.pred_boxes.float().cpu(), names):
            columns = [queries.index(name) for name in own]
            best, label = logits[:, columns].max(dim=-1)
            centre, size = boxes[:, :2], boxes[:, 2:]
            corners = torch.cat([centre - size / 2, centre + size / 2], dim=-1) * scale
            table: dict[str, list[Detection]] = {}
            for index, name in enumerate(own):
                mine = (label == index).nonzero()[:, 0]
                order = mine[best[mine].argsort(descending=True, stable=True)[:top]]
                table[name] = [Detection(tuple(corners[i].tolist()), float(best[i].sigmoid())) for i in order]
            found.append(table)
        return found
