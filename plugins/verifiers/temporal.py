"""Verifier ``temporal``: how consistent a clip is from frame to frame, by open_clip image embeddings (the subject
and background consistency of VBench, Huang et al. 2024, on CLIP features)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from noisesearch.plugin import Condition, UsageError, Verifier, parse_options

from .openclip_models import OpenCLIP


class TemporalConsistency(Verifier):
    """100 x the mean cosine of consecutive frames' unit open_clip image embeddings; spec ``temporal:MODEL``
    (``ARCH/TAG``, default ``ViT-B-32/openai``; ``hf-hub:ORG/REPO``; ``local-dir:/path``). Any condition: it judges
    the clip alone. An image (one frame) scores 100, so it only tells clips apart."""

    name = "temporal"
    condition_kinds = ("class", "prompt")
    differentiable = True
    watches_clips = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, {"model": "ViT-B-32/openai"}, positional="model")
        if not options["model"]:
            raise UsageError("verifier 'temporal' needs its model: temporal:local-dir:/path (an open_clip model)")
        self.clip = OpenCLIP(options["model"])

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        if images.dim() == 4:  # images: no motion to be inconsistent
            return torch.full((images.shape[0],), 100.0, device=images.device)
        clips, frames = images.shape[:2]
        if frames < 2:
            return torch.full((clips,), 100.0, device=images.device)
        features = self.clip.image_features(images.flatten(0, 1)).reshape(clips, frames, -1)
        return 100.0 * (features[:, 1:] * features[:, :-1]).sum(dim=-1).mean(dim=1)
