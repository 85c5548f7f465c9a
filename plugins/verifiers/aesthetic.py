"""Verifier ``aesthetic``: the LAION improved aesthetic predictor, an MLP on CLIP ViT-L/14 image embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch
from safetensors.torch import load_file
from torch import nn

from noisesearch.plugin import Condition, UsageError, Verifier, parse_options
from noisesearch_plugins.verifiers.weights import load_strict

from .openclip_models import OpenCLIP


class RewardMLP(nn.Module):
    """The MLP of the LAION predictor and of ImageReward; its keys match theirs (``layers.0`` ... ``layers.7``)."""

    def __init__(self, width: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(-1)


class AestheticVerifier(Verifier):
    """LAION aesthetic score (0-10) of unit-norm CLIP image embeddings (Ma et al. 2025, 4.1); any condition.

    Spec ``aesthetic:head=FILE.safetensors,clip=MODEL``; the head is ``sac+logos+ava1-l14-linearMSE.pth``
    converted with ``noisesearch convert``, the CLIP model ``ViT-L-14/openai`` unless given.
    """

    name = "aesthetic"
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, {"head": None, "clip": "ViT-L-14/openai"}, positional="head")
        head = options["head"]
        if not head:
            raise UsageError("verifier 'aesthetic' needs its MLP head: aesthetic:head=FILE.safetensors (convert "
                             "sac+logos+ava1-l14-linearMSE.pth with `noisesearch convert FILE OUT.safetensors`)")
        path = Path(head).expanduser()
        if path.suffix != ".safetensors" or not path.is_file():
            raise UsageError(f"aesthetic head {head!r} is no .safetensors file; convert the .pth with "
                             "`noisesearch convert FILE OUT.safetensors`")
        state = load_file(path)
        if "layers.0.weight" not in state:
            raise UsageError(f"aesthetic head {head!r} lacks layers.0.weight: not the LAION predictor's MLP")
        self.clip = OpenCLIP(options["clip"])
        width = state["layers.0.weight"].shape[1]
        if width != self.clip.embed_dim:
            raise UsageError(f"aesthetic head takes {width}-d embeddings but CLIP model {options['clip']!r} "
                             f"gives {self.clip.embed_dim}-d; use the CLIP model the head was trained on")
        self.head = RewardMLP(width)
        load_strict(self.head, state, f"aesthetic head {head!r}")
        self.head.eval().requires_grad_(False)

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        return self.head(self.clip.image_features(images))


def save_random_head(path: Path, width: int = 16, seed: int = 0) -> Path:
    """The LAION aesthetic MLP's layout (``layers.0`` ... ``layers.7``) with random weights, as safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    save_file({k: v.contiguous() for k, v in RewardMLP(width).state_dict().items()}, str(path))
    return Path(path)
