"""Verifier ``pickscore``: PickScore (Kirstain et al. 2023), a preference-tuned CLIP on transformers."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from noisesearch.plugin import Condition, Verifier, parse_options, pooled

from .hf_models import image_input, load_pretrained


class PickScoreVerifier(Verifier):
    """PickScore: logit scale x cosine of image and prompt under a CLIP tuned on Pick-a-Pic preferences.

    Spec ``pickscore:model=ID_OR_FOLDER,processor=ID_OR_FOLDER``; defaults ``yuvalkirstain/PickScore_v1`` with the
    ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` processor; a folder holding both needs only ``model``.
    """

    name = "pickscore"
    condition_kinds = ("prompt",)
    differentiable = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        from transformers import AutoProcessor, CLIPModel

        options = parse_options(self.name, spec, {"model": "yuvalkirstain/PickScore_v1", "processor": None},
                                positional="model")
        self.model = load_pretrained(CLIPModel, options["model"], "PickScore model", use_safetensors=True)
        self.model.eval().requires_grad_(False)
        processor_source = options["processor"] or options["model"]
        if options["processor"] is None and options["model"] == "yuvalkirstain/PickScore_v1":
            processor_source = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
        processor = load_pretrained(AutoProcessor, processor_source, "PickScore processor")
        self.tokenizer = processor.tokenizer
        self.input = image_input(processor.image_processor)
        self._texts: dict[str, torch.Tensor] = {}

    def _text_features(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        missing = [prompt for prompt in dict.fromkeys(prompts) if prompt not in self._texts]
        if missing:
            tokens = self.tokenizer(missing, padding=True, truncation=True,
                                    max_length=self.model.config.text_config.max_position_embeddings,
                                    return_tensors="pt").to(device)
            with torch.no_grad():
                features = F.normalize(pooled(self.model.get_text_features(**tokens)).float(), dim=-1)
            self._texts.update(zip(missing, features))
        return torch.stack([self._texts[prompt].to(device) for prompt in prompts])

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        pixels = self.input(images, self.model)
        image = F.normalize(pooled(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1)
        text = self._text_features([condition.prompt for condition in conditions], pixels.device)
        return self.model.logit_scale.exp().float() * (image * text).sum(dim=-1)
