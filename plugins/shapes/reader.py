"""Reading a shapes image back into a scene: segment objects, name each one's colour and shape.

Objects are the connected components of the pixels brighter than the background; colour is the nearest palette
colour to a component's mean; shape comes from ``ShapeNet``, a small CNN trained on rendered single objects
(``noisesearch_plugins.shapes.train_reader``). The reader never drives search: it is the world's evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from .scenes import COLOURS, SHAPES, SIZES, Scene, Thing

WEIGHTS = Path(__file__).parent / "weights" / "reader.safetensors"
CROP = 16
FOREGROUND = 60  # a pixel whose brightest channel exceeds this is part of an object
MIN_AREA = 4


class ShapeNet(nn.Module):
    """Shape of one object from its 16x16 mask crop: two conv blocks and a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.head = nn.Linear(32 * (CROP // 4) ** 2, len(SHAPES))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(crops))


def components(image: np.ndarray) -> list[tuple[np.ndarray, tuple[slice, slice]]]:
    """Each object's mask and bounding slices, from an RGB uint8 image (H, W, 3)."""
    foreground = image.max(axis=-1) > FOREGROUND
    labels, count = ndimage.label(foreground)
    found = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[box] == index
        if mask.sum() >= MIN_AREA:
            found.append((mask, box))
    return found


def crop(mask: np.ndarray) -> torch.Tensor:
    """A component's mask padded to a square and resized to CROP x CROP, values in [0, 1]."""
    height, width = mask.shape
    side = max(height, width) + 2
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = mask
    tensor = torch.from_numpy(square)[None, None]
    return F.interpolate(tensor, size=(CROP, CROP), mode="area")[0]


def nearest_colour(rgb: np.ndarray) -> str:
    names = list(COLOURS)
    palette = np.array([COLOURS[name] for name in names], dtype=np.float32)
    return names[int(np.argmin(((palette - rgb) ** 2).sum(axis=1)))]


class Reader:
    """The shapes evaluator: image -> the scene it shows (shape, colour, size, centre of every object)."""

    def __init__(self, weights: Optional[Path] = None):
        from safetensors.torch import load_file

        self.net = ShapeNet()
        self.net.load_state_dict(load_file(weights or WEIGHTS))
        self.net.eval()

    @torch.no_grad()
    def read(self, image: np.ndarray) -> Scene:
        """The scene an RGB uint8 image (H, W, 3) shows."""
        found = components(image)
        if not found:
            return Scene(())
        shapes = self.net(torch.stack([crop(mask) for mask, _ in found])).argmax(dim=-1).tolist()
        side = image.shape[0]
        things = []
        for (mask, (rows, cols)), shape in zip(found, shapes):
            pixels = image[rows, cols][mask].astype(np.float32)
            bright = pixels[pixels.max(axis=1) >= np.percentile(pixels.max(axis=1), 50)]
            half = max(rows.stop - rows.start, cols.stop - cols.start) / (2 * side)
            size = min(SIZES, key=lambda name: abs(SIZES[name] - half))
            ys, xs = np.nonzero(mask)
            things.append(Thing(SHAPES[shape], nearest_colour(bright.mean(axis=0)), size,
                                round(float((cols.start + xs.mean() + 0.5) / side), 4),
                                round(float((rows.start + ys.mean() + 0.5) / side), 4)))
        return Scene(tuple(things))
