"""Family ``diffusers``: any diffusers pipeline that takes ``latents=``, run whole, from the initial noise only.

Each candidate is ``pipe(prompt, latents=noise, ...)`` with the pipeline's own scheduler, batched over candidates, so
the chosen image is exactly what the pipeline makes from the recorded noise. Algorithms that only propose initial
noises (``none``, ``random``, ``zero-order``, ``evolution``) run; partial solves, re-noising, stochastic steps,
gradients and previews need a denoiser adapter, which this mode does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import nn

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.noise import derive_seed
from noisesearch.pipeline import Pipeline
from noisesearch.resolve import HANDED_OVER as LOADED

from .source import call_defaults, default_size, looks_like_hub_id, pipeline_class, read_json


class _Probe(Exception):
    """Stops a pipeline call once ``prepare_latents`` has shown the latent shape."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape


class DiffusersPipeline(Pipeline):
    """Any diffusers pipeline taking latents=, run whole per candidate batch (noise search over initial noises)."""

    name = "diffusers"
    whole = True
    condition_kind = "prompt"
    default_sampler = "euler"
    default_verifiers = ("clip",)
    pipeline_name: ClassVar[str] = "DiffusionPipeline"
    scheduler: ClassVar[Optional[str]] = None
    guided: ClassVar[bool] = True

    @classmethod
    def claims(cls, folder: Path) -> bool:
        return (folder / "model_index.json").is_file()

    @classmethod
    def claims_spec(cls, spec: str) -> bool:
        return spec in LOADED or looks_like_hub_id(spec)

    @classmethod
    def for_source(cls, source: str) -> type["DiffusersPipeline"]:
        """A subclass describing the pipeline at ``source`` (folder, hub id or handed-over object) without loading."""
        if source in LOADED:
            pipe = LOADED[source]
            index = {"_class_name": type(pipe).__name__, **{k: None for k in pipe.components}}
            scheduler = type(pipe.scheduler).__name__ if getattr(pipe, "scheduler", None) is not None else None
            cls_ = type(pipe)
            size = getattr(pipe, "default_sample_size", None)
            if size is None:
                denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
                size = getattr(getattr(denoiser, "config", None), "sample_size", None)
            side = int(size) * int(getattr(pipe, "vae_scale_factor", 8)) if size else None
        else:
            index = read_json(source, "model_index.json")
            if index is None:
                raise UsageError(f"{source!r} is no diffusers pipeline: it has no model_index.json")
            cls_ = pipeline_class(index, source)
            scheduler = (index.get("scheduler") or [None, None])[1]
            side = default_size(cls_, source, index)
        defaults = call_defaults(cls_)
        if "latents" not in defaults:
            raise UsageError(f"{cls_.__name__} takes no latents=, so its noise cannot be searched; supported: "
                             "pipelines whose __call__ takes latents= (Stable Diffusion 1.x/2.x/XL/3, FLUX, "
                             "PixArt, Sana, video pipelines...)")
        if "prompt" in defaults:
            kind = "prompt"
        elif "class_labels" in defaults:
            kind = "class"
        else:
            raise UsageError(f"{cls_.__name__} takes neither prompt nor class_labels; it cannot be conditioned")
        steps = defaults.get("num_inference_steps")
        guidance = defaults.get("guidance_scale")
        attributes = {
            "condition_kind": kind,
            "num_classes": None,
            "pipeline_name": cls_.__name__,
            "scheduler": scheduler,
            "default_steps": steps if isinstance(steps, int) else 28,
            "default_guidance": float(guidance) if isinstance(guidance, (int, float)) else 1.0,
            "default_height": side or 512,
            "default_width": side or 512,
            "guided": hasattr(cls_, "do_classifier_free_guidance"),
            "default_verifiers": ("clip",) if kind == "prompt" else ("clip-zeroshot",),
            "__doc__": cls.__doc__,
        }
        return type(f"Diffusers{cls_.__name__}", (cls,), attributes)

    @classmethod
    def nfe_per_call(cls, guidance: float) -> int:
        """Classifier-free guidance doubles evaluations where the pipeline uses it (not FLUX's distilled guidance)."""
        return 2 if cls.guided and guidance > 1.0 else 1

    @classmethod
    def check_size(cls, height: int, width: int) -> None:
        if height % 8 or width % 8:
            raise UsageError(f"{cls.pipeline_name} makes sizes in multiples of 8 (at least); got {height}x{width}")

    @classmethod
    def check_sampler(cls, sampler: str) -> None:
        raise UsageError(f"model.sampler does not apply to {cls.pipeline_name}: whole-pipeline mode runs the "
                         f"pipeline's own scheduler ({cls.scheduler}); leave model.sampler unset")

    def __init__(self, source: Optional[str] = None):
        super().__init__(source)
        if source in LOADED:
            pipe = LOADED[source]
        else:
            from diffusers import DiffusionPipeline
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging

            diffusers_logging.disable_progress_bar()
            transformers_logging.disable_progress_bar()

            try:
                pipe = DiffusionPipeline.from_pretrained(source, use_safetensors=True)
            except (OSError, ValueError) as error:
                line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                raise UsageError(f"cannot load diffusers pipeline {source!r} ({line})") from None
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.parts = nn.ModuleDict({k: v for k, v in pipe.components.items() if isinstance(v, nn.Module)})
        self._shapes: dict[tuple[int, int], tuple[int, ...]] = {}

    def _condition_args(self, conditions: Sequence[Condition]) -> dict:
        if self.condition_kind == "class":
            return {"class_labels": [condition.class_label for condition in conditions]}
        return {"prompt": [condition.prompt for condition in conditions]}

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """One sample's ``latents=`` shape, read by starting a call that stops in ``prepare_latents`` (per run)."""
        if (height, width) not in self._shapes:
            original = self.pipe.prepare_latents

            def probe(*args, **kwargs):
                latents = original(*args, **kwargs)
                raise _Probe(tuple((latents[0] if isinstance(latents, tuple) else latents).shape[1:]))

            self.pipe.prepare_latents = probe
            try:
                probe_condition = Condition(prompt="probe") if self.condition_kind == "prompt" else Condition(class_label=0)
                self.pipe(**self._condition_args([probe_condition]),
                          height=height, width=width, num_inference_steps=1, output_type="latent")
            except _Probe as found:
                self._shapes[(height, width)] = found.shape
            finally:
                del self.pipe.prepare_latents
            if (height, width) not in self._shapes:
                raise UsageError(f"{self.pipeline_name} never prepared latents; whole-pipeline mode cannot drive it")
        return self._shapes[(height, width)]

    def sigmas(self, steps: int) -> torch.Tensor:
        """No levels are visible in whole-pipeline mode: ``steps`` placeholders from 1 down to 0."""
        return torch.linspace(1.0, 0.0, steps + 1)

    def encode(self, conditions: Sequence[Condition]) -> list[Condition]:
        return list(conditions)

    def select(self, encoded: list[Condition], index: torch.Tensor) -> list[Condition]:
        return [encoded[int(i)] for i in index]

    def denoise(self, x, sigma, cond, guidance):
        raise RuntimeError("whole-pipeline mode has no denoiser adapter; the executor calls generate()")

    def generate(self, noises: torch.Tensor, conditions: Sequence[Condition], steps: int, guidance: float,
                 height: int, width: int, seeds: Sequence[int]) -> torch.Tensor:
        """Images in [0, 1] of ``pipe(..., latents=noises)``; stochastic schedulers draw from per-candidate seeds."""
        device = noises.device
        generators = [torch.Generator(device=device).manual_seed(derive_seed(seed, "scheduler") % 2**63)
                      for seed in seeds]
        output = self.pipe(**self._condition_args(conditions), latents=noises, num_inference_steps=steps,
                           guidance_scale=guidance, height=height, width=width, generator=generators,
                           output_type="pt")
        images = output.images if hasattr(output, "images") else output.frames
        if images.dim() == 5:  # video: (B, F, C, H, W); verifiers judge the middle frame
            images = images[:, images.shape[1] // 2]
        return images.float().clamp(0, 1)
