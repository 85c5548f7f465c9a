"""GenEval's rules (Ghosh et al. 2023) on detected objects: a verdict per image, and a soft score for search."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from .geneval_requirements import COLORS, Requirements, Want


@dataclass(frozen=True)
class Detection:
    """One detected object: box (left, top, right, bottom) in pixels, confidence, and colour probabilities
    (aligned with COLORS) where a colour was asked of its class."""

    box: tuple[float, float, float, float]
    score: float
    colors: Optional[tuple[float, ...]] = None


@dataclass(frozen=True)
class Thresholds:
    """GenEval's knobs: confidence (``counting`` for counting prompts), objects kept per class, NMS overlap (1 keeps
    every box), and how far apart (in object sizes) two objects must be for a relation to hold."""

    confidence: float = 0.3
    counting: float = 0.9
    max_objects: int = 16
    overlap: float = 1.0
    position: float = 0.1


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    height = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def kept(found: Sequence[Detection], threshold: float, limits: Thresholds) -> list[Detection]:
    """The objects GenEval counts: above ``threshold``, most confident first, at most ``max_objects``, then greedy
    non-maximum suppression of boxes overlapping a kept one by ``overlap`` or more."""
    ranked = sorted((d for d in found if d.score > threshold), key=lambda d: -d.score)[: limits.max_objects]
    result: list[Detection] = []
    for detection in ranked:
        if limits.overlap >= 1 or all(iou(detection.box, other.box) < limits.overlap for other in result):
            result.append(detection)
    return result


def relations(a: Detection, b: Detection, threshold: float) -> set[str]:
    """Where ``a`` lies relative to ``b`` (y grows downwards): centre offset shrunk by ``threshold`` times both
    sizes, and a relation wherever the shrunk offset's direction leans more than 0.5 along an axis."""
    offset = [(a.box[i] + a.box[i + 2] - b.box[i] - b.box[i + 2]) / 2 for i in (0, 1)]
    sizes = [abs(a.box[i + 2] - a.box[i]) + abs(b.box[i + 2] - b.box[i]) for i in (0, 1)]
    shrunk = [math.copysign(max(abs(o) - threshold * s, 0.0), o) for o, s in zip(offset, sizes)]
    if all(abs(value) < 1e-3 for value in shrunk):
        return set()
    norm = math.hypot(*offset)
    dx, dy = shrunk[0] / norm, shrunk[1] / norm
    return {name for name, holds in (("left of", dx < -0.5), ("right of", dx > 0.5), ("above", dy < -0.5),
                                     ("below", dy > 0.5)) if holds}


def _color_share(objects: Sequence[Detection], color: str) -> float:
    index = COLORS.index(color)
    return sum(d.colors[index] for d in objects) / len(objects) if objects else 0.0


def _is_color(detection: Detection, color: str) -> bool:
    return max(range(len(COLORS)), key=lambda i: detection.colors[i]) == COLORS.index(color)


def verdict(requirements: Requirements, detected: dict[str, list[Detection]], limits: Thresholds) -> bool:
    """GenEval's verdict: every include clause met (count, then colour of the most confident, then their position
    relative to the target clause's objects), and no exclude clause reached."""
    threshold = limits.counting if requirements.tag == "counting" else limits.confidence
    objects = {name: kept(found, threshold, limits) for name, found in detected.items()}
    matched: list[Optional[list[Detection]]] = []
    correct = True
    for want in requirements.include:
        found = objects.get(want.name, [])[: want.count]
        ok = len(found) >= want.count
        if ok and want.color is not None:
            ok = sum(_is_color(d, want.color) for d in found) >= want.count
        if ok and want.relation is not None:
            targets = matched[want.target]
            ok = targets is not None and all(want.relation in relations(a, b, limits.position)
                                             for a in found for b in targets)
        matched.append(found if ok else None)
        correct = correct and ok
    return correct and all(len(objects.get(want.name, [])) < want.count for want in requirements.exclude)


def _clause(want: Want, ranked: list[Detection], matched: list[list[Detection]], limits: Thresholds) -> float:
    found = ranked[: want.count]
    if len(found) < want.count:
        return 0.0
    value = found[-1].score
    if want.color is not None:
        value *= _color_share(found, want.color)
    if want.relation is not None:
        targets = matched[want.target]
        pairs = [want.relation in relations(a, b, limits.position) for a in found for b in targets]
        value *= sum(pairs) / len(pairs) if pairs else 0.0
    return value


def soft_score(requirements: Requirements, detected: dict[str, list[Detection]], limits: Thresholds) -> float:
    """A graded version of the verdict in [0, 1]: per include clause, the confidence of its count-th object times the
    share of its asked colour and of pairs in its relation; per exclude clause, one minus the confidence of the
    object that would break it; their mean."""
    ranked = {name: kept(found, 0.0, limits) for name, found in detected.items()}
    matched: list[list[Detection]] = []
    values = []
    for want in requirements.include:
        found = ranked.get(want.name, [])
        values.append(_clause(want, found, matched, limits))
        matched.append(found[: want.count])
    for want in requirements.exclude:
        found = ranked.get(want.name, [])
        values.append(1.0 - found[want.count - 1].score if len(found) >= want.count else 1.0)
    return sum(values) / len(values)
