"""Lightning training shared by the embedded worlds: endless fresh batches, the EDM text-to-image (or clip) denoiser
with EMA weights, and contrastive training of a world's own open_clip verifier."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import lightning as L
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from torch.utils.data import DataLoader, IterableDataset
from transformers import CLIPTextConfig, CLIPTextModel

from .edm import edm_loss

Examples = Callable[[int, int], tuple[list[str], torch.Tensor]]  # (count, seed) -> (captions, pixels in [-1, 1])


class Batches(IterableDataset):
    """An endless stream of fresh (captions, pixels) batches, batch ``i`` drawn from seed ``(seed, i)``."""

    def __init__(self, examples: Examples, batch_size: int, seed: int):
        self.examples, self.batch_size, self.seed = examples, batch_size, seed

    def __iter__(self) -> Iterator[tuple[list[str], torch.Tensor]]:
        i = 0
        while True:
            yield self.examples(self.batch_size, self.seed * 1_000_003 + i)
            i += 1


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt")["input_ids"]


def with_warmup(optimizer: torch.optim.Optimizer, steps: int) -> dict:
    """Lightning's optimizer config with a linear learning-rate warm-up over ``steps`` steps."""
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


class DiffusionTraining(L.LightningModule):
    """EDM denoising loss on captioned pixels (a clip's frames flattened into channels); the caption is dropped (empty)
    with ``p_uncond`` for CFG; EMA weights."""

    def __init__(self, unet_config: dict, text_config: dict, tokenizer, lr: float, p_uncond: float, ema_decay: float,
                 warmup: int, sigma_data: float = 0.5, p_mean: float = -1.2, p_std: float = 1.2):
        super().__init__()
        self.unet = UNet2DConditionModel(**unet_config)
        self.text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
        live = torch.nn.ModuleDict({"unet": self.unet, "text_encoder": self.text_encoder})
        self.ema = copy.deepcopy(live).requires_grad_(False)
        self.ema_pairs = list(zip(self.ema.parameters(), live.parameters()))  # deepcopy keeps the order
        self.tokenizer = tokenizer
        self.lr, self.p_uncond, self.ema_decay, self.warmup = lr, p_uncond, ema_decay, warmup
        self.sigma_data, self.p_mean, self.p_std = sigma_data, p_mean, p_std

    def training_step(self, batch, batch_idx):
        captions, images = batch
        images = images.flatten(1, -3)  # clips (B, F, C, H, W) become (B, F*C, H, W); images stay
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
    """Contrastive (CLIP) training of a world's open_clip verifier; images whose captions are equal all count as
    positives."""

    def __init__(self, clip_config: dict, tokenizer, lr: float, warmup: int):
        super().__init__()
        import open_clip

        self.model = open_clip.CLIP(**clip_config)
        self.tokenizer = tokenizer
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


def fit(module: L.LightningModule, examples: Examples, steps: int, batch_size: int, seed: int) -> float:
    """Lightning ``fit`` for ``steps`` steps on fresh batches; returns the seconds it took."""
    L.seed_everything(seed, workers=True)
    loader = DataLoader(Batches(examples, batch_size, seed), batch_size=None)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, max_epochs=-1, log_every_n_steps=50)
    started = time.time()
    trainer.fit(module, loader)
    return time.time() - started


def train_denoiser(out: Path, family: str, words, unet_config: dict, text_config: dict, examples: Examples,
                   steps: int, batch_size: int, lr: float, p_uncond: float, ema_decay: float, seed: int,
                   sigma_min: float, sigma_max: float, init: Path | None = None) -> dict:
    """Train a world's text-conditional UNet and text encoder; save the EMA weights, tokenizer and card to ``out``.

    ``init`` (a folder this function wrote before) continues that training: its weights start both the live and the EMA
    networks, and its figures are kept under ``after``."""
    module = DiffusionTraining(unet_config, text_config, words.tokenizer(), lr, p_uncond, ema_decay,
                               warmup=min(200, steps))
    earlier = start_from(module, Path(init)) if init else None
    seconds = fit(module, examples, steps, batch_size, seed)
    module.ema["unet"].save_pretrained(out / "unet", safe_serialization=True)
    module.ema["text_encoder"].save_pretrained(out / "text_encoder", safe_serialization=True)
    words.save(out / "tokenizer")
    card = {"family": family, "sigma_data": module.sigma_data, "sigma_min": sigma_min, "sigma_max": sigma_max,
            "rho": 7.0, "image_size": unet_config["sample_size"]}
    (out / "noisesearch.json").write_text(json.dumps(card, indent=2) + "\n")
    stage = dict(steps=steps, batch_size=batch_size, lr=lr, p_uncond=p_uncond, ema_decay=ema_decay, seed=seed)
    if earlier is None:
        return {"diffusion_train_s": round(seconds, 1), "diffusion": stage}
    stage["after"] = earlier["diffusion"]
    return {"diffusion_train_s": round(seconds + earlier["diffusion_train_s"], 1), "diffusion": stage}


def start_from(module: DiffusionTraining, folder: Path) -> dict:
    """Load an earlier stage's EMA weights into ``module`` (live and EMA); return that stage's training figures."""
    record = folder / "training.json"
    if not (folder / "unet").is_dir() or not record.exists():
        raise SystemExit(f"{folder} holds no trained denoiser (unet/ and training.json); train it first or drop init")
    earlier = json.loads(record.read_text())
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder")
    for name, trained in (("unet", unet), ("text_encoder", text_encoder)):
        getattr(module, name).load_state_dict(trained.state_dict())
        module.ema[name].load_state_dict(trained.state_dict())
    return earlier


def train_clip_verifier(folder: Path, clip_config: dict, words, examples: Examples, steps: int, batch_size: int,
                        lr: float, seed: int) -> dict:
    """Train a world's open_clip verifier and save it as a ``local-dir:`` folder (config, safetensors, tokenizer)."""
    from safetensors.torch import save_file

    module = ClipTraining(clip_config, words.tokenizer(), lr, warmup=min(100, steps))
    seconds = fit(module, examples, steps, batch_size, seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": clip_config, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in module.model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    words.save(folder)
    return {"clip_train_s": round(seconds, 1), "clip": dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed)}


def record_figures(out: Path, figures: dict) -> dict:
    """Merge ``figures`` into ``out/training.json`` (other parts' figures stay), print and return the whole."""
    record = out / "training.json"
    figures = (json.loads(record.read_text()) if record.exists() else {}) | figures
    record.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return figures
