"""Captions of shape scenes from a grammar covering GenEval's categories, each with its checkable requirements.

Categories: ``single_object`` ("a triangle"), ``two_objects`` ("a circle and a square"), ``counting`` ("three
crosses", "two red circles"), ``colours`` ("a blue circle"), ``position`` ("a circle left of a square") and ``colour_attribution``
("a red circle and a blue square"). Every caption parses back to the requirements it states, so a scene (or an
evaluator's reading of an image) can be checked against it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Optional

from .scenes import COLOURS, SHAPES, SIZES, Scene, Thing, place

CATEGORIES = ("single_object", "two_objects", "counting", "colours", "position", "colour_attribution")
NUMBERS = {"two": 2, "three": 3, "four": 4}
RELATIONS = ("left of", "right of", "above", "below")
HELD_OUT = frozenset({("blue", "triangle"), ("yellow", "circle"), ("green", "cross"), ("purple", "square")})
MARGIN = 0.08  # how far apart two centres must be for a relation to hold


@dataclass(frozen=True)
class Want:
    """A requirement: ``count`` objects of ``shape`` (and ``colour`` if given)."""

    shape: str
    colour: Optional[str] = None
    count: int = 1


@dataclass(frozen=True)
class Caption:
    """A prompt, its category and its requirements (objects wanted, and an optional relation between the first two)."""

    text: str
    category: str
    wants: tuple[Want, ...]
    relation: Optional[str] = None


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def article(colour: Optional[str], shape: str) -> str:
    return f"a {colour} {shape}" if colour else f"a {shape}"


def describe(category: str, wants: tuple[Want, ...], relation: Optional[str] = None) -> Caption:
    """The caption of a category's requirements."""
    if category == "counting":
        (want,) = wants
        word = next(name for name, value in NUMBERS.items() if value == want.count)
        text = " ".join(filter(None, (word, want.colour, plural(want.shape))))
    elif category == "position":
        first, second = wants
        text = f"{article(first.colour, first.shape)} {relation} {article(second.colour, second.shape)}"
    else:
        text = " and ".join(article(want.colour, want.shape) for want in wants)
    return Caption(text, category, wants, relation)


def sample_caption(category: str, rng: random.Random, held_out: bool = False) -> Caption:
    """A random caption of ``category``; with ``held_out`` its colour-shape pairs are the held-out ones."""
    def pair() -> tuple[str, str]:
        while True:
            colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
            if ((colour, shape) in HELD_OUT) == held_out:
                return colour, shape

    if category == "single_object":
        return describe(category, (Want(rng.choice(SHAPES)),))
    if category == "two_objects":
        first, second = rng.sample(SHAPES, 2)
        return describe(category, (Want(first), Want(second)))
    if category == "counting":
        count = rng.choice(list(NUMBERS.values()))
        if rng.random() < 0.5:
            colour, shape = pair()
            return describe(category, (Want(shape, colour, count),))
        return describe(category, (Want(rng.choice(SHAPES), count=count),))
    if category == "colours":
        colour, shape = pair()
        return describe(category, (Want(shape, colour),))
    if category == "position":
        first, second = rng.sample(SHAPES, 2)
        return describe(category, (Want(first), Want(second)), rng.choice(RELATIONS))
    if category == "colour_attribution":
        (c1, s1), (c2, s2) = pair(), pair()
        while s2 == s1 or c2 == c1:
            c2, s2 = pair()
        return describe(category, (Want(s1, c1), Want(s2, c2)))
    raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")


_ARTICLE = r"a (?:(?P<{0}c>{colours}) )?(?P<{0}s>{shapes})"


def parse(text: str) -> Caption:
    """The requirements a caption states; raises ValueError for text outside the grammar."""
    colours, shapes = "|".join(COLOURS), "|".join(SHAPES)
    one = _ARTICLE.format("a", colours=colours, shapes=shapes)
    two = _ARTICLE.format("b", colours=colours, shapes=shapes)
    match = re.fullmatch(f"(?P<n>{'|'.join(NUMBERS)}) (?:(?P<c>{colours}) )?(?P<s>{'|'.join(plural(s) for s in SHAPES)})",
                         text)
    if match:
        shape = next(s for s in SHAPES if plural(s) == match["s"])
        return Caption(text, "counting", (Want(shape, match["c"], NUMBERS[match["n"]]),))
    match = re.fullmatch(f"{one} (?P<r>{'|'.join(RELATIONS)}) {two}", text)
    if match:
        return Caption(text, "position", (Want(match["as"], match["ac"]), Want(match["bs"], match["bc"])), match["r"])
    match = re.fullmatch(f"{one}(?: and {two})?", text)
    if match is None:
        raise ValueError(f"caption {text!r} is outside the shapes grammar")
    wants = (Want(match["as"], match["ac"]),) + ((Want(match["bs"], match["bc"]),) if match["bs"] else ())
    coloured = any(want.colour for want in wants)
    category = ("colour_attribution" if coloured else "two_objects") if len(wants) == 2 else (
        "colours" if coloured else "single_object")
    return Caption(text, category, wants)


def matches(thing: Thing, want: Want) -> bool:
    return thing.shape == want.shape and (want.colour is None or thing.colour == want.colour)


def holds(relation: str, a: Thing, b: Thing) -> bool:
    """Whether ``a`` is ``relation`` ``b`` (centres at least MARGIN apart along that axis)."""
    if relation == "left of":
        return a.x + MARGIN <= b.x
    if relation == "right of":
        return a.x >= b.x + MARGIN
    if relation == "above":
        return a.y + MARGIN <= b.y
    if relation == "below":
        return a.y >= b.y + MARGIN
    raise ValueError(f"unknown relation {relation!r}")


def satisfied(scene: Scene, caption: Caption) -> bool:
    """GenEval's rule on ground truth: every wanted object present (counting: exactly that many of the shape),
    and for ``position`` some pair of matching objects in the stated relation."""
    for want in caption.wants:
        found = sum(matches(thing, want) for thing in scene.things)
        if (found != want.count) if caption.category == "counting" else (found < want.count):
            return False
    if caption.relation is not None:
        first, second = caption.wants
        return any(holds(caption.relation, a, b) for a in scene.things if matches(a, first)
                   for b in scene.things if matches(b, second) and b is not a)
    return True


def scene_for(caption: Caption, rng: random.Random, distractors: int = 0) -> Scene:
    """A scene that satisfies ``caption``, with up to ``distractors`` extra objects that do not change that."""
    things: list[Thing] = []

    def colour_of(want: Want) -> str:
        while True:
            colour = want.colour or rng.choice(list(COLOURS))
            if (colour, want.shape) not in HELD_OUT or want.colour:
                return colour

    if caption.relation is not None:
        first, second = caption.wants
        regions = {"left of": ((0, 0, 0.42, 1), (0.58, 0, 1, 1)), "right of": ((0.58, 0, 1, 1), (0, 0, 0.42, 1)),
                   "above": ((0, 0, 1, 0.42), (0, 0.58, 1, 1)), "below": ((0, 0.58, 1, 1), (0, 0, 1, 0.42))}
        for want, region in zip(caption.wants, regions[caption.relation]):
            things.append(place(rng, want.shape, colour_of(want), "small", things, region=region))
    else:
        size = rng.choice(list(SIZES)) if sum(want.count for want in caption.wants) == 1 else "small"
        for attempt in range(100):  # four objects placed one by one can box themselves in: start again
            things = []
            try:
                for want in caption.wants:
                    for _ in range(want.count):
                        things.append(place(rng, want.shape, colour_of(want), size, things))
                break
            except ValueError:
                if attempt == 99:
                    raise
    for _ in range(distractors):
        shape = rng.choice([s for s in SHAPES if all(s != want.shape for want in caption.wants)])
        colour = rng.choice([c for c in COLOURS if (c, shape) not in HELD_OUT])
        try:
            things.append(place(rng, shape, colour, "small", things))
        except ValueError:
            break
    return Scene(tuple(things))


def prompt_set(per_category: int, seed: int) -> list[Caption]:
    """A fixed benchmark prompt set: ``per_category`` captions per category (distinct while the grammar has enough).

    In ``colours`` and ``colour_attribution`` half the prompts use only held-out colour-shape pairs (the
    composition probe); the other categories are shape-only or use seen pairs.
    """
    rng = random.Random(seed)
    chosen: list[Caption] = []
    for category in CATEGORIES:
        picked: list[Caption] = []
        for _ in range(1000):  # ``single_object`` has only as many captions as shapes: repeats come after that
            held = category in ("colours", "colour_attribution") and len(picked) % 2 == 1
            caption = sample_caption(category, rng, held_out=held)
            if all(caption.text != other.text for other in picked):
                picked.append(caption)
            if len(picked) == per_category:
                break
        while len(picked) < per_category:
            picked.append(picked[len(picked) % len(SHAPES)])
        chosen += picked
    return chosen


def uses_held_out(caption: Caption) -> bool:
    """Whether a caption asks for a colour-shape pair never seen in training."""
    return any((want.colour, want.shape) in HELD_OUT for want in caption.wants)
