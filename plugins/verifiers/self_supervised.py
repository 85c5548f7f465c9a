"""Verifier ``self-supervised``: feature similarity of the x0-preview at sigma 0.4 and the final sample (Ma et al. 2025, 3.2)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from noisesearch.plugin import Condition, UsageError, Verifier, registered
from torch import nn

from .hf_models import image_input, load_pretrained
from .openclip_models import OpenCLIP


class DinoFeatures(nn.Module):
    """The CLS token of a transformers self-supervised ViT (DINO, DINOv2)."""

    def __init__(self, source: str):
        super().__init__()
        from transformers import AutoImageProcessor, AutoModel

        self.model = load_pretrained(AutoModel, source, "DINO model", use_safetensors=True)
        self.model.eval().requires_grad_(False)
        self.input = image_input(load_pretrained(AutoImageProcessor, source, "image processor"))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=self.input(images, self.model)).last_hidden_state[:, 0].float()


class ClipFeatures(nn.Module):
    """Unit-norm open_clip image embeddings."""

    def __init__(self, source: str):
        super().__init__()
        self.clip = OpenCLIP(source)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.image_features(images)


class VerifierFeatures(nn.Module):
    """The image features another registered verifier offers (``Verifier.features``): the embedded worlds' own."""

    def __init__(self, verifier: Verifier):
        super().__init__()
        self.verifier = verifier.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.verifier.features(images)


def feature_extractor(spec: str) -> nn.Module:
    """An image feature extractor from ``clip:MODEL``, ``dino:ID_OR_FOLDER`` or a registered verifier's name
    (``digits-classifier``, ``shapes-clip``, any verifier with ``features``)."""
    kind, _, source = spec.partition(":")
    if kind == "clip" and source:
        return ClipFeatures(source)
    if kind == "dino" and source:
        return DinoFeatures(source)
    verifiers = registered("verifiers")
    if kind in verifiers and verifiers[kind].has_features():
        return VerifierFeatures(verifiers[kind](source or None))
    offering = sorted(name for name, cls in verifiers.items() if cls.has_features())
    raise UsageError(f"self-supervised features {spec!r} unknown; give clip:MODEL, dino:ID_OR_FOLDER or a verifier "
                     f"that offers features: {', '.join(offering)}")


HUB_DEFAULT = "clip:ViT-B-32/openai"


def default_features(world: Optional[str]) -> nn.Module:
    """The world's own features when it names them, else the hub CLIP; offline, one line says what to pass."""
    if world:
        return feature_extractor(world)
    try:
        return feature_extractor(HUB_DEFAULT)
    except UsageError:
        offering = sorted(name for name, cls in registered("verifiers").items() if cls.has_features())
        raise UsageError(f"self-supervised: its default features {HUB_DEFAULT} could not be loaded from the hub; give "
                         "local ones: self-supervised:clip:local-dir:/path, self-supervised:dino:FOLDER or "
                         f"self-supervised:NAME with NAME one of {', '.join(offering)}") from None


class SelfSupervisedVerifier(Verifier):
    """Cosine similarity of features of the final sample and of the x0-prediction at sigma = 0.4; no condition.

    Spec ``self-supervised:FEATURES`` with FEATURES ``clip:MODEL``, ``dino:ID_OR_FOLDER``, or a registered verifier
    that offers ``features`` (``digits-classifier``, ``shapes-clip``). Without FEATURES: the world's own features
    where the pipeline names them (``Pipeline.feature_verifier``), else ``clip:ViT-B-32/openai`` from the hub.
    The executor hands it the preview at the schedule's level nearest 0.4 (in log sigma); a candidate scored above
    that level has no preview yet and scores 1.
    """

    name = "self-supervised"
    preview_sigma = 0.4

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        self.extractor = feature_extractor(spec) if spec else None

    def attach(self, pipeline: type) -> None:
        if self.extractor is None:
            self.extractor = default_features(getattr(pipeline, "feature_verifier", None))

    def score(self, images: torch.Tensor, conditions: Sequence[Condition],
              previews: Optional[torch.Tensor] = None) -> torch.Tensor:
        if previews is None:
            raise ValueError("the self-supervised verifier needs previews= (the x0-predictions at sigma 0.4)")
        if self.extractor is None:
            self.extractor = default_features(None).to(images.device)
        previews = previews.to(images)
        if previews.shape[-2:] != images.shape[-2:]:  # previews scored smaller (model.preview_size): compared at
            images = F.interpolate(images, size=previews.shape[-2:], mode="area")  # the previews' size
        both = self.extractor(torch.cat([images, previews]))
        final, early = both.split(images.shape[0])
        return F.cosine_similarity(final.float(), early.float(), dim=-1)
