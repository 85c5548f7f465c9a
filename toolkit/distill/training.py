"""Training an early verifier with Lightning: every level of every training trajectory is an example, the target is
the trajectory's final teacher score standardised within its condition (what a search ranks), and the held-out
conditions give Kendall's tau with the final score per level, beside the teacher's own x0-preview's."""

from __future__ import annotations

from typing import Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..bench.health import mean_kendall
from ..student import LatentScorer
from .trajectories import Trajectories


def standardised(final: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Scores as z-scores within their condition (a constant condition gives zeros)."""
    out = torch.zeros_like(final)
    for g in group.unique():
        rows = group == g
        values = final[rows]
        spread = values.std(unbiased=False)
        out[rows] = (values - values.mean()) / spread if spread > 0 else 0.0
    return out


def examples(trajectories: Trajectories) -> TensorDataset:
    """One example per trajectory and level: (x, x0, sigma, condition, standardised final score)."""
    n, levels = trajectories.x.shape[:2]
    target = standardised(trajectories.final, trajectories.group)
    return TensorDataset(trajectories.x.flatten(0, 1), trajectories.x0.flatten(0, 1),
                         trajectories.sigmas.repeat(n), trajectories.cond.repeat_interleave(levels, dim=0),
                         target.repeat_interleave(levels))


class StudentModule(L.LightningModule):
    """Mean squared error of the predicted standardised final score; AdamW with cosine decay."""

    def __init__(self, network: LatentScorer, lr: float, epochs: int):
        super().__init__()
        self.network, self.lr, self.epochs = network, lr, epochs

    def training_step(self, batch, batch_idx):
        x, x0, sigma, cond, target = batch
        loss = torch.nn.functional.mse_loss(self.network(x, x0, sigma, cond), target)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=False)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.network.parameters(), lr=self.lr, weight_decay=1e-4)
        return {"optimizer": optimizer,
                "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, self.epochs))}


class EpochLine(L.Callback):
    """One line per epoch: its mean training loss (the standardised target's variance is 1)."""

    def __init__(self, say):
        self.say = say

    def on_train_epoch_end(self, trainer, module):
        loss = trainer.callback_metrics.get("train_loss")
        if loss is not None:
            self.say(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: mean squared error {float(loss):.4f}")


def fit(network: LatentScorer, train: Trajectories, epochs: int, batch: int = 256, lr: float = 2e-3,
        seed: int = 0, accelerator: str = "auto", say=None) -> LatentScorer:
    """Train ``network`` on every level of ``train`` (Lightning, seeded); returns it in eval mode."""
    import logging

    for name in ("lightning.pytorch", "lightning.fabric"):  # the trainer's banner says nothing about this fit
        logging.getLogger(name).setLevel(logging.WARNING)
    L.seed_everything(seed, workers=True, verbose=False)
    loader = DataLoader(examples(train), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        deterministic=True, callbacks=[EpochLine(say)] if say is not None else [])
    network.train()
    trainer.fit(StudentModule(network, lr, epochs), loader)
    return network.eval()


@torch.no_grad()
def predictions(network: LatentScorer, trajectories: Trajectories, level: int, batch: int = 512) -> torch.Tensor:
    """The network's scores of every trajectory at one level."""
    device = next(network.parameters()).device
    out = []
    for start in range(0, len(trajectories.x), batch):
        rows = slice(start, start + batch)
        sigma = trajectories.sigmas[level].expand(len(trajectories.x[rows]))
        out.append(network(trajectories.x[rows, level].to(device), trajectories.x0[rows, level].to(device),
                           sigma.to(device), trajectories.cond[rows].to(device)).cpu())
    return torch.cat(out)


def within(values: torch.Tensor, final: torch.Tensor, group: torch.Tensor) -> list[tuple[list[float], list[float]]]:
    return [(values[group == g].tolist(), final[group == g].tolist()) for g in group.unique()]


def taus(network: Optional[LatentScorer], held: Trajectories) -> dict[str, list[Optional[float]]]:
    """Kendall's tau with the final score within each held-out condition, averaged, per level: the early
    verifier's (``early``) and the teacher's score of the x0-preview (``preview``)."""
    levels = len(held.sigmas)
    result = {"preview": [mean_kendall(within(held.previews[:, k], held.final, held.group)) for k in range(levels)]}
    if network is not None:
        result["early"] = [mean_kendall(within(predictions(network, held, k), held.final, held.group))
                           for k in range(levels)]
    return result
