"""Training of the shapes reader's ``ShapeNet`` with Lightning on rendered single objects (part ``reader``).

Run through ``python -m noisesearch_plugins.shapes.training --parts '[reader]'``. Objects get random shape, colour, size (half-width 0.08-0.28) and place, then blur and pixel noise, so that the
reader also reads imperfect (generated) images.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.utils.data import DataLoader, TensorDataset

from ..reader import WEIGHTS, ShapeNet, components, crop
from ..scenes import COLOURS, SHAPES, Scene, Thing, noisy_render


def examples(count: int, seed: int) -> TensorDataset:
    """``count`` (crop, shape label) pairs of single rendered objects."""
    rng = random.Random(seed)
    crops, labels = [], []
    while len(crops) < count:
        label = rng.randrange(len(SHAPES))
        half = rng.uniform(0.08, 0.28)
        thing = Thing(SHAPES[label], rng.choice(list(COLOURS)), "small", rng.uniform(half, 1 - half),
                      rng.uniform(half, 1 - half), half_width=half)
        found = components(noisy_render(Scene((thing,)), rng))
        if not found:
            continue
        mask, _ = max(found, key=lambda item: item[0].sum())
        crops.append(crop(mask))
        labels.append(label)
    return TensorDataset(torch.stack(crops), torch.tensor(labels))


class ReaderModule(L.LightningModule):
    """ShapeNet under cross-entropy, Adam."""

    def __init__(self, lr: float = 2e-3):
        super().__init__()
        self.net = ShapeNet()
        self.lr = lr

    def training_step(self, batch, batch_idx):
        crops, labels = batch
        loss = F.cross_entropy(self.net(crops), labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        crops, labels = batch
        self.log("accuracy", (self.net(crops).argmax(-1) == labels).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def train_reader(path: Path = WEIGHTS, samples: int = 12000, epochs: int = 6) -> dict:
    """Train ShapeNet on rendered single objects, save it to ``path``; returns its held-out accuracy and time."""
    L.seed_everything(0)
    train = DataLoader(examples(samples, seed=1), batch_size=256, shuffle=True)
    heldout = DataLoader(examples(2000, seed=2), batch_size=1000)
    module = ReaderModule()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False)
    started = time.time()
    trainer.fit(module, train, heldout)
    seconds = time.time() - started
    accuracy = trainer.validate(module, heldout, verbose=False)[0]["accuracy"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in module.net.state_dict().items()}, str(path))
    return {"reader_train_s": round(seconds, 1), "reader_shape_accuracy": round(float(accuracy), 4),
            "reader": dict(samples=samples, epochs=epochs, heldout=2000)}

