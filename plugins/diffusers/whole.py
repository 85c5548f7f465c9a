"""Whole-pipeline mode: any diffusers pipeline that takes ``latents=``, run whole, from the initial noise only.

Each candidate is ``pipe(prompt, latents=noise, ...)`` with the pipeline's own scheduler, batched over candidates, so
the chosen image is exactly what the pipeline makes from the recorded noise. Algorithms that only propose initial
noises (``none``, ``random``, ``zero-order``, ``evolution``) run whole; partial solves, re-noising, stochastic steps,
gradients and previews go to the native adapter (``noisesearch_plugins.diffusers.native``), which
``DiffusersFamily.for_search`` picks.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from noisesearch.plugin import Condition, NoiseSpec, Pipeline, UsageError, derive_seed, first_line

from .source import call_defaults


ENCODED_AS = {  # what encode_prompt returns, as __call__ keywords (None: not passed back)
    "StableDiffusionPipeline": ("prompt_embeds", "negative_prompt_embeds"),
    "StableDiffusionXLPipeline": ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                  "negative_pooled_prompt_embeds"),
    "StableDiffusion3Pipeline": ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                 "negative_pooled_prompt_embeds"),
    "FluxPipeline": ("prompt_embeds", "pooled_prompt_embeds", None),
    "PixArtSigmaPipeline": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds",
                            "negative_prompt_attention_mask"),
    "SanaPipeline": ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds",
                     "negative_prompt_attention_mask"),
}
SHARED_DEFAULTS = ("negative_prompt", "max_sequence_length", "clean_caption", "complex_human_instruction")


class _Probe(Exception):
    """Stops a pipeline call once ``prepare_latents`` has shown the latent shape."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = shape


class WholeDiffusers(Pipeline):
    """A loaded diffusers pipeline run whole: ``pipe(latents=...)`` per batch of candidates (wraps the pipe)."""

    name = "diffusers"

    def __init__(self, family, pipe):
        super().__init__(None)
        self.family = family
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.parts = nn.ModuleDict({k: v for k, v in pipe.components.items() if isinstance(v, nn.Module)})
        self._shapes: dict[tuple, tuple[int, ...]] = {}
        self._encoded: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}
        self._switches: dict[str, bool] = {}  # documented switches a family needs for this run's settings

    def offload(self, device: torch.device) -> None:
        """diffusers' model CPU offload: each component moves to ``device`` only for its own forward. The parts
        leave the module tree, so that Lightning's move of the module to ``device`` leaves them on the CPU."""
        self.offloaded = True
        self.parts = nn.ModuleDict()
        self.pipe.enable_model_cpu_offload(device=device)

    def placement(self) -> tuple[torch.device, torch.dtype]:
        if getattr(self, "offloaded", False):
            return self.pipe._execution_device, self.pipe.dtype
        return super().placement()

    def _size_args(self, height: int, width: int) -> dict:
        """The size keywords of a call: height and width, a video's frames and frame rate, the family's switches."""
        sized = {} if self.family.fixed_size else {"height": height, "width": width, **self._switches}
        if self.family.default_frames is not None:
            sized["num_frames"] = self.run.frames or self.family.default_frames
        if self.family.default_frame_rate is not None:
            sized["frame_rate"] = self.run.frame_rate or self.family.default_frame_rate
        return sized

    def _call(self, what: str, **kwargs):
        """``pipe(**kwargs)``, with the family's documented switch where the run's size needs it; the pipeline's
        own refusal of the run's settings (a ValueError or TypeError from its checks) is one line naming the
        pipeline, the call and the settings to change."""
        for attempt in range(2):
            try:
                return self.pipe(**kwargs)
            except (ValueError, TypeError) as error:
                if attempt == 0 and isinstance(error, ValueError) and self._unbinned(error):
                    kwargs.update(self._switches)
                    continue
                raise UsageError(f"{self.family.pipeline_name}.__call__ ({what}) refused this run's settings: "
                                 f"{first_line(error)}; change model.height/model.width, model.steps or model.guidance") from None

    def _unbinned(self, error: ValueError) -> bool:
        """PixArt and Sana bin sizes by their transformer's sample size and refuse one they have no bins for;
        their documented switch ``use_resolution_binning=False`` then runs the size as asked (once per run)."""
        import inspect

        accepted = inspect.signature(self.pipe.__call__).parameters
        if "use_resolution_binning" not in accepted or "use_resolution_binning" in self._switches:
            return False
        if "sample size" not in str(error).lower():
            return False
        self._switches["use_resolution_binning"] = False
        return True

    def _condition_args(self, conditions: Sequence[Condition], guidance: Optional[float] = None) -> dict:
        """The conditioning keywords of a call: class labels, cached prompt embeddings where the family's
        ``encode_prompt`` is known (each prompt encoded once per run), else the prompts themselves."""
        if self.family.condition_kind == "class":
            return {"class_labels": [condition.class_label for condition in conditions]}
        names = ENCODED_AS.get(self.family.pipeline_name)
        if guidance is None or names is None:
            return {"prompt": [condition.prompt for condition in conditions]}
        rows = [self._encode(condition.prompt, guidance > 1.0, names) for condition in conditions]
        embedded = {name: torch.cat([row[name] for row in rows]) for name in rows[0]}
        if "negative_prompt_embeds" in embedded:  # PixArt defaults negative_prompt to "": embeddings replace it
            embedded["negative_prompt"] = None
        return embedded

    def _encode(self, prompt: str, guided: bool, names: tuple) -> dict[str, torch.Tensor]:
        key = (prompt, guided)
        if key not in self._encoded:
            import inspect

            accepted = inspect.signature(self.pipe.encode_prompt).parameters
            defaults = call_defaults(type(self.pipe))
            kwargs = {"prompt": prompt, "device": self.pipe._execution_device, "num_images_per_prompt": 1}
            kwargs.update({name: None for name in ("prompt_2", "prompt_3") if name in accepted})  # = prompt
            if "do_classifier_free_guidance" in accepted:
                kwargs["do_classifier_free_guidance"] = guided
            kwargs.update({k: defaults[k] for k in SHARED_DEFAULTS if k in accepted and k in defaults})
            with torch.no_grad():
                outputs = self.pipe.encode_prompt(**kwargs)
            self._encoded[key] = {name: value for name, value in zip(names, outputs)
                                  if name is not None and value is not None}
        return self._encoded[key]

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """One sample's ``latents=`` shape, read by starting a call that stops in ``prepare_latents`` (per run)."""
        if self.family.draws_noise:
            config = self.pipe.transformer.config
            return (config.in_channels, config.sample_size, config.sample_size)
        key = (height, width, self.run.frames)
        if key not in self._shapes:
            original = self.pipe.prepare_latents

            def probe(*args, **kwargs):
                latents = original(*args, **kwargs)
                raise _Probe(tuple((latents[0] if isinstance(latents, tuple) else latents).shape[1:]))

            self.pipe.prepare_latents = probe
            prompted = self.family.condition_kind == "prompt"
            probe_condition = Condition(prompt="probe") if prompted else Condition(class_label=0)
            try:
                self._call("a probe for the latent shape", **self._condition_args([probe_condition]),
                           **self._size_args(height, width), num_inference_steps=1, output_type="latent")
            except _Probe as found:
                self._shapes[key] = found.shape
            finally:
                del self.pipe.prepare_latents
            if key not in self._shapes:
                raise UsageError(f"{self.family.pipeline_name} never prepared latents; whole-pipeline mode "
                                 "cannot drive it")
        return self._shapes[key]

    def sigmas(self, steps: int) -> torch.Tensor:
        """No levels are visible in whole-pipeline mode: one placeholder per denoiser call, from 1 down to 0."""
        return torch.linspace(1.0, 0.0, self.family.sample_calls("euler", steps) + 1)

    def encode(self, conditions: Sequence[Condition]) -> list[Condition]:
        """The conditions themselves; cached prompt encodings of earlier batches are dropped, so that memory stays
        that of one batch of conditions however many prompts a run has."""
        self._keep_encodings(conditions)
        return list(conditions)

    def _keep_encodings(self, conditions: Sequence[Condition]) -> None:
        prompts = {condition.prompt for condition in conditions}
        self._encoded = {key: value for key, value in self._encoded.items() if key[0] in prompts}

    def select(self, encoded: list[Condition], index: torch.Tensor) -> list[Condition]:
        return [encoded[int(i)] for i in index]

    def denoiser_network(self) -> torch.nn.Module:
        return getattr(self.pipe, "unet", None) or self.pipe.transformer

    def denoise(self, x, sigma, cond):
        raise RuntimeError("whole-pipeline mode has no denoiser adapter; the executor calls generate()")

    def generate(self, noises: torch.Tensor, conditions: Sequence[Condition],
                 specs: Sequence[NoiseSpec]) -> torch.Tensor:
        """Images in [0, 1] of ``pipe(..., latents=noises)``; stochastic schedulers draw from per-candidate seeds.

        A pipeline that draws its own noise (DiT) gets one CPU generator per candidate seeded so that it draws
        exactly the candidate's noise: only plain draws (``none``, ``random``) can be searched that way.
        """
        steps, guidance, height, width = self.run.steps, self.run.guidance, self.run.height, self.run.width
        if self.family.draws_noise:
            seeds = [spec.fresh_seed for spec in specs]
            if any(seed is None for seed in seeds):
                raise UsageError(f"{self.family.pipeline_name} draws its own noise, so only algorithms whose "
                                 "candidates are plain draws (none, random) can search it")
            generators = [torch.Generator().manual_seed(seed) for seed in seeds]
            output = self._call("the search's candidates", **self._condition_args(conditions),
                                num_inference_steps=steps, guidance_scale=guidance, generator=generators,
                                output_type="np")
        else:
            generators = [torch.Generator().manual_seed(derive_seed(*spec.seeds, *spec.weights, "scheduler"))
                          for spec in specs]
            output = self._call("the search's candidates", **self._condition_args(conditions, guidance),
                                latents=noises, num_inference_steps=steps, guidance_scale=guidance,
                                generator=generators, output_type="pt", **self._size_args(height, width))
        return as_image_tensor(output.images if hasattr(output, "images") else output.frames, noises.device)


def load_pipe(source: str):
    """A diffusers pipeline from a folder or hub id, safetensors only, no remote code; a failure is one line."""
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        return DiffusionPipeline.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot load diffusers pipeline {source!r} ({first_line(error)})") from None


def family_name(cls: type) -> str:
    """The diffusers pipeline class a (possibly user-derived) pipeline class is: the nearest one diffusers defines."""
    return next((base.__name__ for base in cls.__mro__ if base.__module__.startswith("diffusers.")), cls.__name__)


def as_image_tensor(images, device: torch.device) -> torch.Tensor:
    """A pipeline's output (tensor or array; images or video frames) as images (B, C, H, W) in [0, 1].

    Video pipelines return clips (B, F, ...), kept as (B, F, C, H, W).
    """
    if not isinstance(images, torch.Tensor):  # numpy, channels last: (B, H, W, C) or (B, F, H, W, C)
        import numpy as np

        images = torch.from_numpy(np.asarray(images)).movedim(-1, -3)
    return images.to(device).float().clamp_(0, 1).contiguous()  # in place: the pipeline's output is ours
