"""Clips of moving shapes: objects that move in a straight line at constant speed, drawn frame by frame."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from noisesearch_plugins.shapes.scenes import SIZES, Scene, Thing, overlaps, render

FRAMES = 6
SIZE = "small"
HALF = SIZES[SIZE]


@dataclass(frozen=True)
class Mover:
    """One object of a clip: shape, colour, centre in the first frame and its displacement by the last (x right,
    y down, in image widths)."""

    shape: str
    colour: str
    x: float
    y: float
    dx: float = 0.0
    dy: float = 0.0

    def at(self, frame: int, frames: int = FRAMES) -> Thing:
        """The object in ``frame`` (0 to ``frames`` - 1)."""
        t = frame / (frames - 1)
        return Thing(self.shape, self.colour, SIZE, round(self.x + t * self.dx, 4), round(self.y + t * self.dy, 4))


@dataclass(frozen=True)
class Clip:
    """The ground truth of a clip: its movers."""

    movers: tuple[Mover, ...]

    def frame(self, index: int, frames: int = FRAMES) -> Scene:
        return Scene(tuple(mover.at(index, frames) for mover in self.movers))


def inside(mover: Mover) -> bool:
    """Whether the object stays wholly inside the image in every frame."""
    return all(HALF <= v <= 1 - HALF for v in (mover.x, mover.y, mover.x + mover.dx, mover.y + mover.dy))


def collides(a: Mover, b: Mover, frames: int = FRAMES) -> bool:
    """Whether two movers come too close in any frame."""
    return any(overlaps(a.at(i, frames), b.at(i, frames), gap=0.02) for i in range(frames))


def render_clip(clip: Clip, frames: int = FRAMES) -> np.ndarray:
    """The clip as RGB uint8 frames (F, 32, 32, 3)."""
    return np.stack([render(clip.frame(i, frames)) for i in range(frames)])


def noisy_clip(clip: Clip, rng: random.Random, frames: int = FRAMES) -> np.ndarray:
    """A render with one blur and pixel-noise level for the clip (what an imperfect generator might draw)."""
    from PIL import Image, ImageFilter

    blur, level = rng.uniform(0.0, 0.7), rng.uniform(0, 12)
    noise = np.random.default_rng(rng.getrandbits(32))
    out = []
    for image in render_clip(clip, frames):
        array = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(blur))).astype(np.float32)
        out.append(np.clip(array + noise.normal(0, level, array.shape), 0, 255).astype(np.uint8))
    return np.stack(out)
