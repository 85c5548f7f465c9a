"""Captions of moving shapes from a grammar, each with the requirements a clip must meet, and clips that meet them.

Categories: ``direction`` ("a red circle moving right", "a blue square falling"), ``speed`` ("a green triangle
moving up quickly"), ``still`` ("a yellow circle standing still"), ``count`` ("two red squares moving left") and
``apart`` ("two triangles moving apart", "two blue circles moving together"). Every caption parses back to its
requirements, so a clip (or the evaluator's reading of one) can be checked against it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Optional

from .movers import HALF, Clip, Mover, collides, inside

CATEGORIES = ("direction", "speed", "still", "count", "apart")
COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
VERBS = {"falling": "down", "rising": "up"}  # "a red circle falling" is "moving down"
SPEEDS = {"slowly": "slow", "quickly": "fast"}
EXTENTS = {"slow": (0.15, 0.25), "fast": (0.4, 0.5), None: (0.15, 0.5)}  # displacement by the last frame
SPREAD = (0.3, 0.45)  # how much two objects' horizontal gap grows ("apart") or shrinks ("together")


@dataclass(frozen=True)
class Caption:
    """A prompt and what it asks: ``count`` objects of ``shape`` (and ``colour``), how they move and how far."""

    text: str
    category: str
    shape: str
    colour: Optional[str] = None
    count: int = 1
    direction: Optional[str] = None  # left/right/up/down, apart/together, None: standing still
    speed: Optional[str] = None  # slow/fast, None: any


def plural(shape: str) -> str:
    return shape + "s"


def describe(category: str, shape: str, colour: Optional[str], direction: Optional[str], speed: Optional[str] = None,
             verb: bool = False) -> Caption:
    """The caption of a category's requirements (``verb``: "falling"/"rising" for down/up)."""
    noun = " ".join(filter(None, (colour, shape)))
    if category == "still":
        return Caption(f"a {noun} standing still", category, shape, colour)
    if category in ("count", "apart"):
        words = " ".join(filter(None, ("two", colour, plural(shape))))
        return Caption(f"{words} moving {direction}", category, shape, colour, 2, direction)
    motion = next(w for w, d in VERBS.items() if d == direction) if verb else f"moving {direction}"
    adverb = next((w for w, s in SPEEDS.items() if s == speed), None)
    return Caption(" ".join(filter(None, (f"a {noun} {motion}", adverb))), category, shape, colour, 1, direction,
                   speed)


def sample_caption(category: str, rng: random.Random) -> Caption:
    """A random caption of ``category``."""
    shape, colour = rng.choice(SHAPES), rng.choice(COLOURS)
    direction = rng.choice(list(DIRECTIONS))
    if category == "direction":
        return describe(category, shape, colour, direction, verb=direction in ("up", "down") and rng.random() < 0.5)
    if category == "speed":
        return describe(category, shape, colour, direction, rng.choice(("slow", "fast")))
    if category == "still":
        return describe(category, shape, colour, None)
    if category == "count":
        return describe(category, shape, colour, direction)
    if category == "apart":
        return describe(category, shape, colour if rng.random() < 0.5 else None, rng.choice(("apart", "together")))
    raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")


def parse(text: str) -> Caption:
    """The requirements a caption states; raises ValueError for text outside the grammar."""
    colours, shapes = "|".join(COLOURS), "|".join(SHAPES)
    plurals = "|".join(plural(s) for s in SHAPES)
    match = re.fullmatch(f"a (?:(?P<c>{colours}) )?(?P<s>{shapes}) standing still", text)
    if match:
        return describe("still", match["s"], match["c"], None)
    match = re.fullmatch(f"two (?:(?P<c>{colours}) )?(?P<s>{plurals}) moving (?P<d>left|right|up|down|apart|together)",
                         text)
    if match:
        category = "apart" if match["d"] in ("apart", "together") else "count"
        return describe(category, match["s"][:-1], match["c"], match["d"])
    match = re.fullmatch(f"a (?:(?P<c>{colours}) )?(?P<s>{shapes}) (?:moving (?P<d>left|right|up|down)|(?P<v>falling|"
                         f"rising))(?: (?P<a>slowly|quickly))?", text)
    if match is None:
        raise ValueError(f"caption {text!r} is outside the motion grammar")
    direction = match["d"] or VERBS[match["v"]]
    speed = SPEEDS[match["a"]] if match["a"] else None
    caption = describe("speed" if speed else "direction", match["s"], match["c"], direction, speed, bool(match["v"]))
    return caption


OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "apart": "together", "together": "apart",
            None: None}


def reverse(caption: Caption) -> Caption:
    """The caption of the clip played backwards (the opposite direction, the same speed; a still one unchanged)."""
    verb = caption.category == "direction" and caption.text.endswith(tuple(VERBS))
    return describe(caption.category, caption.shape, caption.colour, OPPOSITE[caption.direction], caption.speed, verb)


def _movers(caption: Caption, rng: random.Random) -> tuple[Mover, ...]:
    def colour() -> str:
        return caption.colour or rng.choice(COLOURS)

    def spot() -> float:
        return rng.uniform(HALF, 1 - HALF)

    if caption.direction in ("apart", "together"):
        spread = rng.uniform(*SPREAD)
        gap = rng.uniform(0.05, 0.25) + (spread if caption.direction == "together" else 0)
        centre = rng.uniform(0.3, 0.7)
        sign = 1 if caption.direction == "apart" else -1
        return (Mover(caption.shape, colour(), centre - gap / 2, spot(), -sign * spread / 2),
                Mover(caption.shape, colour(), centre + gap / 2, spot(), sign * spread / 2))
    extent = 0.0 if caption.direction is None else rng.uniform(*EXTENTS[caption.speed])
    ux, uy = DIRECTIONS.get(caption.direction, (0, 0))
    return tuple(Mover(caption.shape, colour(), spot(), spot(), ux * extent, uy * extent)
                 for _ in range(caption.count))


def clip_for(caption: Caption, rng: random.Random, distractors: int = 0) -> Clip:
    """A clip that meets ``caption``, with up to ``distractors`` extra objects of other shapes (still or moving)."""
    for _ in range(1000):
        movers = _movers(caption, rng)
        if all(map(inside, movers)) and not any(collides(a, b) for i, a in enumerate(movers) for b in movers[i + 1:]):
            break
    else:
        raise ValueError(f"no room for {caption.text!r}")
    movers = list(movers)
    for _ in range(distractors):
        for _ in range(200):
            d = rng.uniform(-0.3, 0.3) if rng.random() < 0.5 else 0.0
            axis = rng.random() < 0.5
            extra = Mover(rng.choice([s for s in SHAPES if s != caption.shape]), rng.choice(COLOURS),
                          rng.uniform(HALF, 1 - HALF), rng.uniform(HALF, 1 - HALF), d if axis else 0.0,
                          0.0 if axis else d)
            if inside(extra) and not any(collides(extra, m) for m in movers):
                movers.append(extra)
                break
    return Clip(tuple(movers))


def prompt_set(per_category: int, seed: int) -> list[Caption]:
    """A fixed benchmark prompt set: ``per_category`` distinct captions per category."""
    rng = random.Random(seed)
    chosen: list[Caption] = []
    for category in CATEGORIES:
        picked: dict[str, Caption] = {}
        while len(picked) < per_category:
            caption = sample_caption(category, rng)
            picked.setdefault(caption.text, caption)
        chosen += picked.values()
    return chosen
