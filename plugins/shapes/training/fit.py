"""One command trains the shapes world with Lightning ``fit``: the evaluator's reader, shapes-clip, the diffusion model
and shapes-owl (the detector ``geneval`` reads shapes with).

``python -m noisesearch_plugins.shapes.training --config configs/train/shapes.yaml`` (``--parts`` picks some).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Iterator

import lightning as L
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from torch.utils.data import DataLoader, IterableDataset
from transformers import CLIPTextConfig, CLIPTextModel

from noisesearch_plugins.worlds.edm import edm_loss

from .data import examples
from ..networks import clip_config, text_encoder_config, unet_config
from ..pipeline import ShapesFamily
from ..words import CONTEXT_LENGTH, build_tokenizer, save_tokenizer

PARTS = ("reader", "clip", "diffusion", "detector")


class SceneBatches(IterableDataset):
    """An endless stream of fresh (captions, images) batches, batch ``i`` drawn from seed ``(seed, i)``."""

    def __init__(self, batch_size: int, seed: int):
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self) -> Iterator[tuple[list[str], torch.Tensor]]:
        i = 0
        while True:
            yield examples(self.batch_size, seed=self.seed * 1_000_003 + i)
            i += 1


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=CONTEXT_LENGTH, truncation=True,
                     return_tensors="pt")["input_ids"]


def with_warmup(optimizer: torch.optim.Optimizer, steps: int) -> dict:
    """Lightning's optimizer config with a linear learning-rate warm-up over ``steps`` steps."""
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


class DiffusionTraining(L.LightningModule):
    """EDM denoising loss on captioned scenes; the caption is dropped (empty) with ``p_uncond`` for CFG; EMA weights."""

    def __init__(self, lr: float, p_uncond: float, ema_decay: float, warmup: int, sigma_data: float = 0.5,
                 p_mean: float = -1.2, p_std: float = 1.2):
        super().__init__()
        self.unet = UNet2DConditionModel(**unet_config())
        self.text_encoder = CLIPTextModel(CLIPTextConfig(**text_encoder_config()))
        live = torch.nn.ModuleDict({"unet": self.unet, "text_encoder": self.text_encoder})
        self.ema = copy.deepcopy(live).requires_grad_(False)
        self.ema_pairs = list(zip(self.ema.parameters(), live.parameters()))  # deepcopy keeps the order
        self.tokenizer = build_tokenizer()
        self.lr, self.p_uncond, self.ema_decay, self.warmup = lr, p_uncond, ema_decay, warmup
        self.sigma_data, self.p_mean, self.p_std = sigma_data, p_mean, p_std

    def training_step(self, batch, batch_idx):
        captions, images = batch
        captions = ["" if torch.rand(()) < self.p_uncond else c for c in captions]
        states = self.text_encoder(tokenize(self.tokenizer, captions).to(images.device)).last_hidden_state
        sigma = (torch.randn(images.shape[0], device=images.device) * self.p_std + self.p_mean).exp()
        loss = edm_loss(self.unet, images, sigma, self.sigma_data, encoder_hidden_states=states)
        self.log("loss", loss, prog_bar=True)
        return loss

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx):
        decay = min(self.ema_decay, (1 + self.global_step) / (10 + self.global_step))
        for shadow, value in self.ema_pairs:
            shadow.lerp_(value, 1 - decay)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(list(self.unet.parameters()) + list(self.text_encoder.parameters()), lr=self.lr,
                                      weight_decay=0.0)
        return with_warmup(optimizer, self.warmup)


class ClipTraining(L.LightningModule):
    """Contrastive (CLIP) training of shapes-clip; images whose captions are equal all count as positives."""

    def __init__(self, lr: float, warmup: int):
        super().__init__()
        import open_clip

        self.model = open_clip.CLIP(**clip_config())
        self.tokenizer = build_tokenizer()
        self.lr, self.warmup = lr, warmup

    def training_step(self, batch, batch_idx):
        captions, images = batch
        image_features = F.normalize(self.model.encode_image(images), dim=-1)
        text_features = F.normalize(self.model.encode_text(tokenize(self.tokenizer, captions).to(images.device)),
                                    dim=-1)
        logits = self.model.logit_scale.exp().clamp(max=100) * image_features @ text_features.T
        index = {caption: i for i, caption in enumerate(dict.fromkeys(captions))}
        keys = torch.tensor([index[c] for c in captions], device=images.device)
        same = (keys[:, None] == keys[None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.05)
        return with_warmup(optimizer, self.warmup)


def fit(module: L.LightningModule, steps: int, batch_size: int, seed: int) -> float:
    """Lightning ``fit`` for ``steps`` steps on fresh scene batches; returns the seconds it took."""
    L.seed_everything(seed, workers=True)
    loader = DataLoader(SceneBatches(batch_size, seed), batch_size=None)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, max_epochs=-1, log_every_n_steps=50)
    started = time.time()
    trainer.fit(module, loader)
    return time.time() - started


def train_diffusion(out: Path, steps: int, batch_size: int, lr: float, p_uncond: float, ema_decay: float,
                    seed: int, sigma_min: float, sigma_max: float) -> dict:
    """Train the text-conditional UNet and its text encoder; save the EMA weights, tokenizer and card to ``out``."""
    module = DiffusionTraining(lr, p_uncond, ema_decay, warmup=min(200, steps))
    seconds = fit(module, steps, batch_size, seed)
    module.ema["unet"].save_pretrained(out / "unet", safe_serialization=True)
    module.ema["text_encoder"].save_pretrained(out / "text_encoder", safe_serialization=True)
    save_tokenizer(out / "tokenizer")
    card = {"family": ShapesFamily.name, "sigma_data": module.sigma_data, "sigma_min": sigma_min, "sigma_max": sigma_max,
            "rho": 7.0, "image_size": 32}
    (out / "noisesearch.json").write_text(json.dumps(card, indent=2) + "\n")
    return {"diffusion_train_s": round(seconds, 1), "diffusion": dict(steps=steps, batch_size=batch_size, lr=lr,
                                                                       p_uncond=p_uncond, ema_decay=ema_decay,
                                                                       seed=seed)}


def train_clip(out: Path, steps: int, batch_size: int, lr: float, seed: int) -> dict:
    """Train shapes-clip and save it as an open_clip ``local-dir:`` folder (config, safetensors, tokenizer)."""
    from safetensors.torch import save_file

    module = ClipTraining(lr, warmup=min(100, steps))
    seconds = fit(module, steps, batch_size, seed)
    folder = out / "clip"
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": clip_config(), "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.contiguous() for k, v in module.model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    save_tokenizer(folder)
    return {"clip_train_s": round(seconds, 1), "clip": dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed)}


def train(out: Path = Path("plugins/shapes/weights"), parts: list[str] = list(PARTS), diffusion_steps: int = 3000,
          diffusion_lr: float = 1e-3, p_uncond: float = 0.1, ema_decay: float = 0.999, batch_size: int = 64,
          diffusion_seed: int = 0, sigma_min: float = 0.002, sigma_max: float = 80.0, reader_samples: int = 12000,
          reader_epochs: int = 6, clip_steps: int = 1500, clip_batch_size: int = 256, clip_lr: float = 1e-3,
          clip_seed: int = 1, detector_steps: int = 4000, detector_batch_size: int = 64, detector_lr: float = 2e-3,
          detector_seed: int = 3) -> dict:
    """Train the named parts and merge their figures into ``out/training.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = out / "training.json"
    figures = {}
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    if "reader" in parts:
        from .reader import train_reader

        figures.update(train_reader(out / "reader.safetensors", reader_samples, reader_epochs))
    if "clip" in parts:
        figures.update(train_clip(out, clip_steps, clip_batch_size, clip_lr, clip_seed))
    if "detector" in parts:
        from .detector import train_detector

        figures.update(train_detector(out / "detector", detector_steps, detector_batch_size, detector_lr,
                                      detector_seed))
    if "diffusion" in parts:
        figures.update(train_diffusion(out, diffusion_steps, batch_size, diffusion_lr, p_uncond, ema_decay,
                                       diffusion_seed, sigma_min, sigma_max))
    figures = (json.loads(record.read_text()) if record.exists() else {}) | figures  # other parts' figures stay
    record.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return figures
