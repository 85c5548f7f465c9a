"""The embedded ``shapes`` pipeline: a text-conditional diffusers UNet2DConditionModel in pixel space, EDM-preconditioned."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch

from noisesearch.plugin import Condition
from noisesearch_plugins.worlds.embedded import EmbeddedFamily, EmbeddedPipeline

from .words import WORDS

WEIGHTS = Path(__file__).parent / "weights"


class ShapesPipeline(EmbeddedPipeline):
    """The loaded shapes model: a text-conditional UNet2DConditionModel and its CLIPTextModel, EDM-preconditioned."""

    weights = WEIGHTS

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        from diffusers import UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel

        folder = self.folder
        self.tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        self.text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True,
                                                          use_safetensors=True).eval()
        self.null_states: Optional[torch.Tensor] = None  # the empty prompt's states, for CFG
        self.unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True,
                                                         use_safetensors=True).eval()

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return (3, height, width)

    @torch.no_grad()
    def text_states(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt")["input_ids"]
        return self.text_encoder(ids.to(self.unet.device)).last_hidden_state

    def encode(self, conditions: Sequence[Condition]) -> torch.Tensor:
        """Token states of each distinct prompt, computed once per run."""
        return self.text_states([c.prompt for c in conditions])

    def unet_conditioning(self, states: torch.Tensor, x: torch.Tensor) -> dict:
        return {"encoder_hidden_states": states.to(x.dtype)}

    def null_condition(self, states: torch.Tensor) -> torch.Tensor:
        """The empty prompt's token states (computed once)."""
        if self.null_states is None or self.null_states.device != states.device:
            self.null_states = self.text_states([""]).to(states.device)
        return self.null_states.expand_as(states)


class ShapesFamily(EmbeddedFamily, pipeline=ShapesPipeline):
    """Embedded 32x32 text-to-image model of coloured shapes (UNet2DConditionModel + CLIPTextModel), trained here."""

    name = "shapes"
    condition_kind = "prompt"
    default_steps = 8
    default_guidance = 2.0
    default_sampler = "heun"
    default_verifiers = ("shapes-clip",)
    feature_verifier = "shapes-clip"
    default_height = 32
    default_width = 32
    words = WORDS

    def evaluation(self):
        from .evaluation import ShapesEvaluation

        return ShapesEvaluation()
