"""An early verifier's network: the final score of a verifier predicted from a candidate's noisy latent, its noise
level, the denoiser's x0-prediction there and the condition (TTSnap, arXiv 2511.22242; LatSearch, 2603.14526),
and its folder (``model.safetensors`` beside ``card.json``), which ``noisesearch distill`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import UsageError

CARD = "card.json"
WEIGHTS = "model.safetensors"


def condition_vector(cond: Any) -> torch.Tensor:
    """One vector per row of a pipeline's encoded condition: token states mean-pooled, class labels as they are
    (the network embeds them); families whose encodings are no tensor cannot be read."""
    if not isinstance(cond, torch.Tensor):
        raise UsageError("early verifiers read tensor encodings (the embedded worlds'); this pipeline's condition "
                         "is no tensor")
    if cond.is_floating_point():
        return cond.float().mean(dim=1) if cond.dim() == 3 else cond.float().reshape(len(cond), -1)
    return cond.long().reshape(len(cond))


def level_features(sigma: torch.Tensor, count: int = 8) -> torch.Tensor:
    """Fourier features of log sigma (0 stands for the level of a finished sample)."""
    log_sigma = torch.log(sigma.float().clamp_min(1e-4))[:, None]
    frequencies = torch.arange(count, device=sigma.device, dtype=torch.float32)[None] * 0.5 + 0.25
    return torch.cat([torch.sin(log_sigma * frequencies), torch.cos(log_sigma * frequencies)], dim=1)


class Block(nn.Module):
    """A convolution modulated by the level and the condition (FiLM), then SiLU and a 2x downsampling (no
    normalisation: an image's overall colour is what many scores read)."""

    def __init__(self, channels_in: int, channels_out: int, embedding: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.film = nn.Linear(embedding, 2 * channels_out)
        self.down = nn.Conv2d(channels_out, channels_out, 3, stride=2, padding=1)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
        return self.down(nn.functional.silu(self.conv(h) * (1 + scale) + shift))


class LatentScorer(nn.Module):
    """Predicts the standardised final score of a candidate from (x_t scaled to unit variance, its x0-prediction,
    log sigma, the condition)."""

    def __init__(self, channels: int, condition: int, classes: Optional[int] = None, width: int = 32,
                 depth: int = 3):
        super().__init__()
        self.config = {"channels": channels, "condition": condition, "classes": classes, "width": width,
                       "depth": depth}
        embedding = 4 * width
        self.embed_class = nn.Embedding(classes, condition) if classes else None
        self.embed = nn.Sequential(nn.Linear(16 + condition, embedding), nn.SiLU(), nn.Linear(embedding, embedding))
        widths = [2 * channels] + [width * 2 ** i for i in range(depth)]
        self.blocks = nn.ModuleList(Block(a, b, embedding) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Sequential(nn.Linear(widths[-1] + 2 * widths[0] + embedding, embedding), nn.SiLU(),
                                  nn.Linear(embedding, 1))

    def forward(self, x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.embed_class is not None:
            cond = self.embed_class(cond.long())
        scaled = x.float() / torch.sqrt(1 + sigma.float() ** 2)[:, None, None, None]
        e = self.embed(torch.cat([level_features(sigma), cond.float()], dim=1))
        h = inputs = torch.cat([scaled, x0.float()], dim=1)
        for block in self.blocks:
            h = block(h, e)
        summary = torch.cat([h.mean(dim=(2, 3)), inputs.mean(dim=(2, 3)), inputs.std(dim=(2, 3)), e], dim=1)
        return self.head(summary).squeeze(1)


def save_student(folder: Path, network: LatentScorer, card: dict) -> None:
    """Write the network's weights (safetensors) and its card (the config, what it was distilled from, its taus)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in network.state_dict().items()}, str(folder / WEIGHTS))
    (folder / CARD).write_text(json.dumps({**card, "network": network.config}, indent=1) + "\n")


def load_student(folder: str) -> tuple[LatentScorer, dict]:
    """The network and card of an early verifier's folder (a clean error for anything else)."""
    path = Path(folder)
    if not (path / CARD).is_file() or not (path / WEIGHTS).is_file():
        raise UsageError(f"early:{folder} is no early verifier folder (it needs {CARD} and {WEIGHTS}); make one with "
                         "`noisesearch distill`")
    card = json.loads((path / CARD).read_text())
    network = LatentScorer(**card["network"])
    network.load_state_dict(load_file(str(path / WEIGHTS)))
    return network.eval(), card
