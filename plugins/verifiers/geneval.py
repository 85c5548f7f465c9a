"""Verifier and evaluator ``geneval``: GenEval's object checks (Ghosh et al. 2023) with a zero-shot detector and CLIP."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from noisesearch.plugin import Condition, Evaluation, UsageError, Verifier, parse_options

from .detector import ZeroShotDetector
from .geneval_requirements import COLORS, Requirements, parse_prompt, read_metadata
from .geneval_rules import Detection, Thresholds, soft_score, verdict
from .openclip_models import OpenCLIP

UNPARSED = "unparsed"
CHUNK = 16  # images detected at once when judging a whole run
COLOR_TEMPLATES = ("a photo of a {color} {name}", "a photo of a {color}-colored {name}", "a photo of a {color} object")
DEFAULTS = {"detector": "google/owlv2-base-patch16-ensemble", "clip": "ViT-L-14/openai", "metadata": None,
            "threshold": "0.1", "counting_threshold": "0.1", "overlap": "0.5", "position": "0.1", "max_objects": "16"}


def _number(name: str, value: str, kind: type, low: float, high: float):
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise UsageError(f"geneval {name}={value!r}: give a {kind.__name__} in [{low}, {high}]")
    return number


class ColorClassifier(torch.nn.Module):
    """GenEval's colour check: CLIP zero-shot over ten colours on an object's box, three templates per colour."""

    def __init__(self, spec: str):
        super().__init__()
        self.clip = OpenCLIP(spec)
        self._classes: dict[str, torch.Tensor] = {}

    def weights(self, name: str) -> torch.Tensor:
        """(colours, D) unit class embeddings: each colour's template embeddings averaged."""
        if name not in self._classes:
            rows = [self.clip.text_features([t.format(color=c, name=name) for t in COLOR_TEMPLATES]).mean(dim=0)
                    for c in COLORS]
            self._classes[name] = F.normalize(torch.stack(rows), dim=-1)
        return self._classes[name]

    @torch.no_grad()
    def probabilities(self, image: torch.Tensor, boxes: Sequence[Sequence[float]], name: str) -> torch.Tensor:
        """(boxes, colours) probabilities of one image's (C, H, W) crops: softmax of 100 x cosine."""
        height, width = image.shape[-2:]
        crops = []
        for left, top, right, bottom in boxes:
            x0, y0 = min(max(int(left), 0), width - 1), min(max(int(top), 0), height - 1)
            x1, y1 = max(min(int(round(right)), width), x0 + 1), max(min(int(round(bottom)), height), y0 + 1)
            crops.append(self.clip.input(image[None, :, y0:y1, x0:x1], self.clip.model))
        features = F.normalize(self.clip.model.encode_image(torch.cat(crops)).float(), dim=-1)
        return (100 * features @ self.weights(name).T.to(features.device)).softmax(dim=-1)


class GenEvalVerifier(Verifier):
    """GenEval's checks as a verifier: the verdict (0 or 1) plus a soft score in [0, 1] that ranks within a verdict.

    Spec ``geneval:detector=OWL_ID_OR_FOLDER,clip=OPEN_CLIP_SPEC,metadata=FILE.jsonl,threshold=0.1,
    counting_threshold=0.1,overlap=0.5,position=0.1,max_objects=16``. Requirements come from ``metadata`` (GenEval's
    evaluation_metadata.jsonl) by prompt, else from the prompt's wording. As ``noisesearch bench``'s ``evaluator``
    it reports accuracy per GenEval category.
    """

    name = "geneval"
    condition_kinds = ("prompt",)

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, DEFAULTS, positional="detector")
        self.limits = Thresholds(
            confidence=_number("threshold", options["threshold"], float, 0, 1),
            counting=_number("counting_threshold", options["counting_threshold"], float, 0, 1),
            max_objects=_number("max_objects", options["max_objects"], int, 1, 1000),
            overlap=_number("overlap", options["overlap"], float, 0, 1),
            position=_number("position", options["position"], float, 0, 1))
        self.metadata = read_metadata(options["metadata"]) if options["metadata"] else {}
        self.detector = ZeroShotDetector(options["detector"])
        self.colors = ColorClassifier(options["clip"])

    def requirements(self, prompt: str) -> Requirements:
        """The prompt's requirements from the metadata, else from its wording; a UsageError when neither gives any."""
        if prompt in self.metadata:
            return self.metadata[prompt]
        try:
            return parse_prompt(prompt)
        except ValueError as error:
            raise UsageError(f"geneval cannot read what {prompt!r} asks for ({error}); write it in GenEval's forms "
                             "or give geneval:metadata=FILE.jsonl") from None

    def detections(self, images: torch.Tensor, asked: Sequence[Requirements]) -> list[dict[str, list[Detection]]]:
        """Each image's detections of its requirements' objects, with colour probabilities where colour is asked."""
        found = self.detector.detect(images, [r.names for r in asked], top=self.limits.max_objects)
        for image, table, wants in zip(images, found, asked):
            for name in {w.name for w in wants.include if w.color is not None}:
                if table[name]:
                    colors = self.colors.probabilities(image, [d.box for d in table[name]], name)
                    table[name] = [Detection(d.box, d.score, tuple(p)) for d, p in zip(table[name], colors.tolist())]
        return found

    @torch.no_grad()
    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        asked = [self.requirements(condition.prompt) for condition in conditions]
        found = self.detections(images, asked)
        return torch.tensor([float(verdict(r, f, self.limits)) + soft_score(r, f, self.limits)
                             for r, f in zip(asked, found)], dtype=torch.float32)

    def evaluation(self) -> "GenEvalEvaluation":
        return GenEvalEvaluation(self)


class GenEvalEvaluation(Evaluation):
    """GenEval as a bench evaluator: per image, its category (GenEval's tag) and whether it shows what is asked."""

    name = "geneval"
    has_features = False

    def __init__(self, verifier: GenEvalVerifier):
        self.verifier = verifier

    def judge(self, images: torch.Tensor, conditions: Sequence[Condition]) -> list[tuple[str, Optional[bool]]]:
        asked: list[Optional[Requirements]] = []
        for condition in conditions:
            try:
                asked.append(self.verifier.requirements(condition.prompt))
            except UsageError:
                asked.append(None)
        known = [i for i, r in enumerate(asked) if r is not None]
        verdicts: list[tuple[str, Optional[bool]]] = [(UNPARSED, None)] * len(conditions)
        for start in range(0, len(known), CHUNK):
            rows = known[start : start + CHUNK]
            for i, found in zip(rows, self.verifier.detections(images[rows], [asked[i] for i in rows])):
                verdicts[i] = (asked[i].tag, verdict(asked[i], found, self.verifier.limits))
        return verdicts
