"""Training of ``shapes-owl``, a tiny OWLv2 detector of the shapes world, with Lightning (part ``detector``).

It lets ``geneval`` (a zero-shot detector plus CLIP colours) judge shapes images, so GenEval's rules can be compared
with ``shapes-eval``'s ground truth. Each object is assigned to the patch holding its centre: that patch learns the
object's box (L1 + generalised IoU) and its shape's query (sigmoid focal loss over the four shape queries, and
cross-entropy among them at the assigned patch).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from ..scenes import COLOURS, IMAGE_SIZE, SHAPES, SIZES, Scene, noisy_render, place
from ..words import CONTEXT_LENGTH, EOS, PAD, build_tokenizer, vocabulary

DETECTOR_FOLDER = Path(__file__).parents[1] / "weights" / "detector"
PATCH = 4
QUERIES = [f"a photo of a {shape}" for shape in SHAPES]  # the form geneval's detector queries take


def detector_config():
    """A two-tower OWLv2: 8x8 patches of 4 pixels, 64-wide vision and 32-wide text encoders over the shapes words."""
    from transformers import Owlv2Config

    words = vocabulary()
    text = dict(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=CONTEXT_LENGTH, pad_token_id=words.index(PAD),
                bos_token_id=words.index("[BOS]"), eos_token_id=words.index(EOS))
    vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                  image_size=IMAGE_SIZE, patch_size=PATCH)
    return Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)


def random_scene(rng: random.Random) -> Scene:
    """One to four objects of any shape, colour (held-out pairs included: a detector reads shapes, not captions)
    and size, placed without overlap."""
    things: list = []
    for _ in range(rng.randint(1, 4)):
        try:
            things.append(place(rng, rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES)), things))
        except ValueError:
            break
    return Scene(tuple(things))


def scenes(count: int, seed: int) -> tuple[torch.Tensor, list[list[tuple[int, tuple[float, ...]]]]]:
    """``count`` noisy renders of random scenes in [0, 1], and per image its objects as (shape index, (cx, cy, w, h)
    in [0, 1])."""
    rng = random.Random(seed)
    images, objects = [], []
    for _ in range(count):
        scene = random_scene(rng)
        images.append(noisy_render(scene, rng))
        objects.append([(SHAPES.index(t.shape), (t.x, t.y, 2 * t.half, 2 * t.half)) for t in scene.things])
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return pixels, objects


class SceneBoxes(IterableDataset):
    """Endless fresh batches; batch ``i`` drawn from seed ``(seed, i)``."""

    def __init__(self, batch_size: int, seed: int):
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self) -> Iterator:
        i = 0
        while True:
            yield scenes(self.batch_size, seed=self.seed * 1_000_003 + i)
            i += 1


def _xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


class DetectorTraining(L.LightningModule):
    """Centre-patch assignment: focal loss on the shape queries' logits, L1 + GIoU on the assigned boxes."""

    def __init__(self, lr: float, warmup: int):
        super().__init__()
        from transformers import Owlv2ForObjectDetection, Owlv2ImageProcessor

        self.model = Owlv2ForObjectDetection(detector_config())
        # a random box head saturates the sigmoid; from zero, every patch starts at its grid prior box and learns
        torch.nn.init.zeros_(self.model.box_head.dense2.weight)
        torch.nn.init.zeros_(self.model.box_head.dense2.bias)
        self.lr, self.warmup = lr, warmup
        tokens = build_tokenizer()(QUERIES, padding="max_length", max_length=CONTEXT_LENGTH, return_tensors="pt")
        self.register_buffer("query_ids", tokens["input_ids"], persistent=False)
        self.register_buffer("query_mask", tokens["attention_mask"], persistent=False)
        processor = Owlv2ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
        self.register_buffer("mean", torch.tensor(processor.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(processor.image_std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor):
        count = images.shape[0]
        return self.model(input_ids=self.query_ids.repeat(count, 1), attention_mask=self.query_mask.repeat(count, 1),
                          pixel_values=(images - self.mean) / self.std)

    def training_step(self, batch, batch_idx):
        images, objects = batch
        outputs = self(images)
        grid = IMAGE_SIZE // PATCH
        targets = torch.zeros_like(outputs.logits)
        rows, patches, boxes = [], [], []
        for row, found in enumerate(objects):
            for shape, box in found:
                patch = min(int(box[1] * grid), grid - 1) * grid + min(int(box[0] * grid), grid - 1)
                targets[row, patch, shape] = 1.0
                rows.append(row)
                patches.append(patch)
                boxes.append(box)
        count = max(len(boxes), 1)
        classes = sigmoid_focal_loss(outputs.logits, targets, alpha=-1, reduction="sum") / count
        assigned = outputs.logits[torch.tensor(rows), torch.tensor(patches)]
        shapes = torch.tensor([shape for found in objects for shape, _ in found], device=assigned.device)
        which = torch.nn.functional.cross_entropy(assigned, shapes)  # the assigned patch tells its shapes apart
        predicted = outputs.pred_boxes[torch.tensor(rows), torch.tensor(patches)]
        wanted = torch.tensor(boxes, device=predicted.device)
        l1 = (predicted - wanted).abs().sum() / count
        giou = generalized_box_iou_loss(_xyxy(predicted), _xyxy(wanted), reduction="sum") / count
        loss = classes + which + 5 * l1 + 2 * giou
        self.log_dict({"loss": loss, "focal": classes, "shape": which, "l1": l1, "giou": giou}, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.01)
        warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / self.warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


def train_detector(folder: Path = DETECTOR_FOLDER, steps: int = 3000, batch_size: int = 64, lr: float = 1e-3,
                   seed: int = 3) -> dict:
    """Train shapes-owl and save it with its processor (the shapes words as tokenizer) like a hub checkpoint."""
    from transformers import Owlv2ImageProcessor, Owlv2Processor

    L.seed_everything(seed, workers=True)
    module = DetectorTraining(lr, warmup=min(200, steps))
    loader = DataLoader(SceneBoxes(batch_size, seed), batch_size=None)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, max_epochs=-1, log_every_n_steps=50)
    started = time.time()
    trainer.fit(module, loader)
    seconds = time.time() - started
    module.model.save_pretrained(folder, safe_serialization=True)
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
                   tokenizer=build_tokenizer()).save_pretrained(folder)
    return {"detector_train_s": round(seconds, 1),
            "detector": dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed)}
