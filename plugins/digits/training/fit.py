"""Training of the digits world with Lightning ``fit``: the diffusion UNet (EDM loss), the classifier, the evaluator.

Run ``python -m noisesearch_plugins.digits.training --config configs/train/digits.yaml``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from noisesearch_plugins.worlds.edm import edm_loss
from safetensors.torch import save_file
from torch.utils.data import DataLoader, TensorDataset

from ..data import NUM_CLASSES, augment, load_split
from ..networks import ClassifierNet, EvaluatorNet, unet_config
from ..pipeline import DigitsFamily


class DiffusionTraining(L.LightningModule):
    """EDM denoising loss (Karras et al. 2022) with class dropout for classifier-free guidance."""

    def __init__(self, lr: float, p_uncond: float, sigma_data: float = 0.5, p_mean: float = -1.2, p_std: float = 1.2):
        super().__init__()
        self.unet = UNet2DModel(**unet_config())
        self.lr, self.p_uncond = lr, p_uncond
        self.sigma_data, self.p_mean, self.p_std = sigma_data, p_mean, p_std

    def training_step(self, batch, batch_idx):
        images, labels = batch
        sigma = (torch.randn(images.shape[0], device=images.device) * self.p_std + self.p_mean).exp()
        drop = torch.rand(labels.shape[0], device=labels.device) < self.p_uncond
        labels = torch.where(drop, torch.full_like(labels, NUM_CLASSES), labels)
        loss = edm_loss(self.unet, images, sigma, self.sigma_data, class_labels=labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.unet.parameters(), lr=self.lr, weight_decay=0.0)
        return optimizer


class ClassifierTraining(L.LightningModule):
    """Cross-entropy training of a digits classifier on augmented train images."""

    def __init__(self, net: torch.nn.Module, lr: float, seed: int):
        super().__init__()
        self.net, self.lr = net, lr
        self.generator = torch.Generator().manual_seed(seed)

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = F.cross_entropy(self.net(augment(images, self.generator)), labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)


def _fit(module: L.LightningModule, steps: int, batch_size: int, seed: int) -> float:
    L.seed_everything(seed, workers=True)
    images, labels = load_split("train")
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_model_summary=False, max_epochs=-1,
    )
    start = time.time()
    trainer.fit(module, loader)
    return time.time() - start


@torch.no_grad()
def heldout_accuracy(net: torch.nn.Module) -> float:
    """Accuracy of a classifier on the 497 held-out digits."""
    images, labels = load_split("heldout")
    net.eval()
    return (net(images).argmax(-1) == labels).float().mean().item()


def train(
    out: Path = Path("plugins/digits/weights"),
    unet_steps: int = 3000,
    unet_lr: float = 2e-3,
    p_uncond: float = 0.1,
    classifier_steps: int = 1500,
    evaluator_steps: int = 2000,
    classifier_lr: float = 2e-3,
    batch_size: int = 64,
    unet_seed: int = 0,
    classifier_seed: int = 1,
    evaluator_seed: int = 2,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
) -> dict:
    """Train the three digits networks and write them, with their configs and figures, to ``out``."""
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"train_split": 1300, "heldout_split": 497, "split_seed": 0}

    diffusion = DiffusionTraining(unet_lr, p_uncond)
    figures["unet_train_s"] = round(_fit(diffusion, unet_steps, batch_size, unet_seed), 1)
    diffusion.unet.save_pretrained(out / "unet", safe_serialization=True)
    card = {"family": DigitsFamily.name, "sigma_data": 0.5, "sigma_min": sigma_min, "sigma_max": sigma_max, "rho": 7.0,
            "num_classes": NUM_CLASSES, "image_size": 16}
    (out / "noisesearch.json").write_text(json.dumps(card, indent=2) + "\n")

    for name, net_cls, steps, seed in (
        ("classifier", ClassifierNet, classifier_steps, classifier_seed),
        ("evaluator", EvaluatorNet, evaluator_steps, evaluator_seed),
    ):
        L.seed_everything(seed)
        net = net_cls()
        figures[f"{name}_train_s"] = round(_fit(ClassifierTraining(net, classifier_lr, seed), steps, batch_size, seed), 1)
        figures[f"{name}_heldout_accuracy"] = round(heldout_accuracy(net), 4)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / f"{name}.safetensors"))

    figures["settings"] = dict(unet_steps=unet_steps, unet_lr=unet_lr, p_uncond=p_uncond, batch_size=batch_size,
                               classifier_steps=classifier_steps, evaluator_steps=evaluator_steps,
                               seeds=[unet_seed, classifier_seed, evaluator_seed])
    (out / "training.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return figures
