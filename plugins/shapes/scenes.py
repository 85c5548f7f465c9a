"""Scenes of coloured shapes: vocabularies, placement without overlap, and antialiased rendering to RGB."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (220, 45, 45), "green": (45, 180, 70), "blue": (55, 90, 230), "yellow": (235, 205, 45),
           "purple": (155, 65, 195)}
SIZES = {"small": 0.14, "large": 0.24}  # the shape's half-width as a fraction of the image side
IMAGE_SIZE = 32
SUPERSAMPLE = 4
BACKGROUND = (20, 20, 20)


@dataclass(frozen=True)
class Thing:
    """One object of a scene: shape, colour, size and centre (x right, y down, both in [0, 1])."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    half_width: Optional[float] = None  # overrides the size's half-width (training the reader on any size)

    @property
    def half(self) -> float:
        return self.half_width if self.half_width is not None else SIZES[self.size]

    def box(self) -> tuple[float, float, float, float]:
        """Its bounding box (left, top, right, bottom) in [0, 1] coordinates."""
        return (self.x - self.half, self.y - self.half, self.x + self.half, self.y + self.half)


@dataclass(frozen=True)
class Scene:
    """The ground truth of an image: its objects, drawn in order."""

    things: tuple[Thing, ...]


def overlaps(a: Thing, b: Thing, gap: float = 0.04) -> bool:
    """Whether two objects' boxes come closer than ``gap``."""
    ax0, ay0, ax1, ay1 = a.box()
    bx0, by0, bx1, by1 = b.box()
    return not (ax1 + gap <= bx0 or bx1 + gap <= ax0 or ay1 + gap <= by0 or by1 + gap <= ay0)


def place(rng: random.Random, shape: str, colour: str, size: str, others: list[Thing], tries: int = 200,
          region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)) -> Thing:
    """An object inside the image (and ``region`` for its centre) that overlaps none of ``others``."""
    half = SIZES[size]
    left, top, right, bottom = region
    for _ in range(tries):
        x = rng.uniform(max(half, left), min(1 - half, right))
        y = rng.uniform(max(half, top), min(1 - half, bottom))
        thing = Thing(shape, colour, size, round(x, 4), round(y, 4))
        if not any(overlaps(thing, other) for other in others):
            return thing
    raise ValueError(f"no room for a {size} {colour} {shape} among {len(others)} objects")


def _draw(draw: ImageDraw.ImageDraw, thing: Thing, side: int) -> None:
    cx, cy, h = thing.x * side, thing.y * side, thing.half * side
    fill = COLOURS[thing.colour]
    if thing.shape == "circle":
        draw.ellipse((cx - h, cy - h, cx + h, cy + h), fill=fill)
    elif thing.shape == "square":
        draw.rectangle((cx - 0.85 * h, cy - 0.85 * h, cx + 0.85 * h, cy + 0.85 * h), fill=fill)
    elif thing.shape == "triangle":
        draw.polygon([(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)], fill=fill)
    elif thing.shape == "cross":
        arm = 0.33 * h
        draw.rectangle((cx - h, cy - arm, cx + h, cy + arm), fill=fill)
        draw.rectangle((cx - arm, cy - h, cx + arm, cy + h), fill=fill)
    else:
        raise ValueError(f"unknown shape {thing.shape!r}; known: {', '.join(SHAPES)}")


def render(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene as an RGB uint8 array (size, size, 3), drawn at 4x and downsampled (antialiased)."""
    side = size * SUPERSAMPLE
    image = Image.new("RGB", (side, side), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for thing in scene.things:
        _draw(draw, thing, side)
    return np.asarray(image.resize((size, size), Image.BOX))


def noisy_render(scene: Scene, rng: random.Random) -> np.ndarray:
    """A render with a random blur and Gaussian pixel noise (what an imperfect generator might draw)."""
    image = Image.fromarray(render(scene)).filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.7)))
    array = np.asarray(image).astype(np.float32)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, 12), array.shape)
    return np.clip(array + noise, 0, 255).astype(np.uint8)
