"""Verifiers ``clip`` (CLIPScore, Hessel et al. 2021) and ``hpsv2`` (HPSv2, Wu et al. 2023) on open_clip models."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import torch

from noisesearch.plugin import Condition, UsageError, Verifier, parse_options

from .openclip_models import OpenCLIP


class CLIPScoreVerifier(Verifier):
    """CLIPScore: 100 x cosine of image and prompt embeddings (Ma et al. 2025, 4.1); spec ``clip:MODEL``.

    MODEL is ``ARCH/TAG`` (default ``ViT-L-14/openai``), ``hf-hub:ORG/REPO`` or ``local-dir:/path``. Unlike the
    metric, negative cosines are kept, so the search can still rank candidates the model finds unrelated.
    """

    name = "clip"
    condition_kinds = ("prompt",)
    differentiable = True
    default_model: Optional[str] = "ViT-L-14/openai"
    scale = 100.0
    weights_hint = "an open_clip ARCH/TAG, hf-hub:ORG/REPO or local-dir:/path"

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        options = parse_options(self.name, spec, {"model": self.default_model}, positional="model")
        if not options["model"]:
            raise UsageError(f"verifier {self.name!r} needs its model: {self.name}:local-dir:/path ({self.weights_hint})")
        self.clip = OpenCLIP(options["model"])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm open_clip image embeddings."""
        return self.clip.image_features(images)

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        texts = self.clip.text_features([condition.prompt for condition in conditions])
        return self.scale * (self.clip.image_features(images) * texts).sum(dim=-1)


class HPSv2Verifier(CLIPScoreVerifier):
    """Human Preference Score v2: cosine of image and prompt under the HPS-tuned open_clip ViT-H-14; ``hpsv2:MODEL``.

    HPS publishes ``.pt`` checkpoints: ``noisesearch convert HPS_v2.1_compressed.pt DIR --open-clip ViT-H-14``
    makes the ``local-dir:DIR`` folder this verifier loads.
    """

    name = "hpsv2"
    default_model = None
    scale = 1.0
    weights_hint = "convert HPS_v2.1_compressed.pt with `noisesearch convert FILE DIR --open-clip ViT-H-14`"

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        # HPSv2 scores through its val transform: the longest edge resized, padded black to a square (no crop)
        self.clip.input = dataclasses.replace(self.clip.input, fit="pad")
