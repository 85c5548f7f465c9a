"""The motion world's rules: whether the objects read from a clip's frames meet a caption, aspect by aspect.

Aspects: ``objects`` (exactly ``count`` objects of the shape and colour in the first and last frames and in at
least two thirds of all frames: the reader may misread a blurred shape in one frame), ``direction`` (each moves
the asked way: displacement first to last frame of at least MOVING along the axis, little across it; apart and
together: their horizontal gap grows or shrinks by MOVING) and ``extent`` (how far: slowly, quickly, or standing
still). A clip is correct when every aspect holds.
"""

from __future__ import annotations

from typing import Optional, Sequence

from noisesearch_plugins.shapes.scenes import Scene, Thing

from .captions import DIRECTIONS, Caption

ASPECTS = ("objects", "direction", "extent")
MOVING = 0.1  # the least displacement (image widths) that counts as moving
ACROSS = 0.08  # drift across the axis always allowed (half the along-axis displacement is allowed beyond it)
STILL = 0.06  # the most displacement of an object standing still
SHOWN = 2 / 3  # the least share of frames that must show exactly the asked objects
LIMITS = {"slow": (0.08, 0.32), "fast": (0.33, 1.0), None: (MOVING, 0.6)}


def _wanted(thing: Thing, caption: Caption) -> bool:
    return thing.shape == caption.shape and (caption.colour is None or thing.colour == caption.colour)


def tracks(frames: Sequence[Scene], caption: Caption) -> Optional[list[list[Thing]]]:
    """The wanted objects followed through the frames that show exactly ``count`` of them (nearest assignment), or
    None when fewer than SHOWN of the frames do, or the first or last frame does not (a misread frame is forgiven;
    a clip whose objects come and go is not)."""
    found = [[t for t in scene.things if _wanted(t, caption)] for scene in frames]
    shown = [things for things in found if len(things) == caption.count]
    if len(shown) < SHOWN * len(frames) or len(found[0]) != caption.count or len(found[-1]) != caption.count:
        return None
    paths = [[thing] for thing in shown[0]]
    for things in shown[1:]:
        if len(things) == 2:
            (a, b), (p, q) = things, (paths[0][-1], paths[1][-1])
            straight = _distance(p, a) + _distance(q, b)
            things = things if straight <= _distance(p, b) + _distance(q, a) else [b, a]
        for path, thing in zip(paths, things):
            path.append(thing)
    return paths


def _distance(a: Thing, b: Thing) -> float:
    return ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5


def _along_across(path: list[Thing], direction: str) -> tuple[float, float]:
    ux, uy = DIRECTIONS[direction]
    dx, dy = path[-1].x - path[0].x, path[-1].y - path[0].y
    return dx * ux + dy * uy, abs(dx * uy) + abs(dy * ux)


def aspects(frames: Sequence[Scene], caption: Caption) -> dict[str, bool]:
    """Each aspect's verdict for the objects read from a clip's frames (all False when the objects are wrong)."""
    paths = tracks(frames, caption)
    if paths is None:
        return dict.fromkeys(ASPECTS, False)
    if caption.direction is None:
        still = all(_distance(path[0], path[-1]) <= STILL for path in paths)
        return {"objects": True, "direction": True, "extent": still}
    if caption.direction in ("apart", "together"):
        first, second = paths
        change = abs(first[-1].x - second[-1].x) - abs(first[0].x - second[0].x)
        sign = 1 if caption.direction == "apart" else -1
        return {"objects": True, "direction": sign * change >= MOVING, "extent": sign * change >= MOVING}
    low, high = LIMITS[caption.speed]
    moves = [_along_across(path, caption.direction) for path in paths]
    right_way = all(along >= MOVING and across <= ACROSS + 0.5 * along for along, across in moves)
    return {"objects": True, "direction": right_way, "extent": all(low <= along <= high for along, _ in moves)}


def satisfied(frames: Sequence[Scene], caption: Caption) -> bool:
    """Whether every aspect holds."""
    return all(aspects(frames, caption).values())
