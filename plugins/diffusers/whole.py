"""Family ``diffusers``: any diffusers pipeline that takes ``latents=``, run whole, from the initial noise only.

Each candidate is ``pipe(prompt, latents=noise, ...)`` with the pipeline's own scheduler, batched over candidates, so
the chosen image is exactly what the pipeline makes from the recorded noise. Algorithms that only propose initial
noises (``none``, ``random``, ``zero-order``, ``evolution``) run whole; partial solves, re-noising, stochastic steps,
gradients and previews go to the native adapter (``noisesearch_plugins.diffusers.native``), which
``DiffusersPipeline.for_search`` picks.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Optional, Sequence

import torch
from torch import nn

from noisesearch.conditions import Condition
from noisesearch.errors import UsageError
from noisesearch.noise import NoiseSpec, derive_seed
from noisesearch.pipeline import Pipeline
from noisesearch.resolve import HANDED_OVER as LOADED

from .source import call_defaults, default_size, looks_like_hub_id, pipeline_class, read_json


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


class DiffusersPipeline(Pipeline):
    """Any diffusers pipeline taking latents=: run whole, or step by step through its family's native adapter."""

    name = "diffusers"
    whole = True
    condition_kind = "prompt"
    default_sampler = "euler"
    default_verifiers = ("clip",)
    pipeline_name: ClassVar[str] = "DiffusionPipeline"
    other_mode_hint = ", or model.mode native where the family has a denoiser adapter (docs/pipelines.md)"

    @classmethod
    def display_name(cls) -> str:
        return cls.pipeline_name
    guided: ClassVar[bool] = True
    scheduler_config: ClassVar[Optional[dict]] = None
    draws_noise: ClassVar[bool] = False  # DiT: no latents=; the noise is what its generator draws
    fixed_size: ClassVar[bool] = False
    can_offload = True

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
            scheduler = type(pipe.scheduler).__name__ if getattr(pipe, "scheduler", None) is not None else None
            scheduler_config = dict(pipe.scheduler.config) if scheduler else None
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
            scheduler_config = read_json(source, "scheduler/scheduler_config.json") if scheduler else None
            side = default_size(cls_, source, index)
        defaults = call_defaults(cls_)
        draws = "latents" not in defaults
        if draws and ("generator" not in defaults or "class_labels" not in defaults):
            raise UsageError(f"{cls_.__name__} takes no latents=, so its noise cannot be searched; supported: "
                             "pipelines whose __call__ takes latents= (Stable Diffusion 1.x/2.x/XL/3, FLUX, "
                             "PixArt, Sana, video pipelines...) and DiT")
        if "prompt" in defaults:
            kind = "prompt"
        elif "class_labels" in defaults:
            kind = "class"
        else:
            raise UsageError(f"{cls_.__name__} takes neither prompt nor class_labels; it cannot be conditioned")
        steps = defaults.get("num_inference_steps")
        guidance = defaults.get("guidance_scale")
        classes = None
        if kind == "class":
            config = (read_json(source, "transformer/config.json") if source not in LOADED else
                      dict(LOADED[source].transformer.config)) or {}
            classes = config.get("num_embeds_ada_norm")
        attributes = {
            "condition_kind": kind,
            "num_classes": classes,
            "draws_noise": draws,
            "fixed_size": "height" not in defaults,
            "pipeline_name": family_name(cls_),
            "scheduler": scheduler,
            "scheduler_config": scheduler_config,
            "default_steps": steps if isinstance(steps, int) else 28,
            "default_guidance": float(guidance) if isinstance(guidance, (int, float)) else 1.0,
            "default_height": side or 512,
            "default_width": side or 512,
            "guided": "guidance_scale" in defaults and "true_cfg_scale" not in defaults,  # FLUX: distilled
            "default_verifiers": ("clip",) if kind == "prompt" else ("clip-zeroshot",),
            "__doc__": cls.__doc__,
        }
        return type(f"Diffusers{cls_.__name__}", (cls,), attributes)

    @classmethod
    def for_search(cls, mode: Optional[str], algorithm: type, verifiers: Sequence[type]) -> type[Pipeline]:
        """Whole-pipeline mode where the search needs only initial noises and final images (parity by
        construction); the native adapter where it needs more, for pipelines that draw their own noise, or where
        ``model.mode native`` asks for it."""
        from .native import NATIVE_FAMILIES, native_class

        # a pipeline that draws its own noise (DiT) can replay only plain draws whole: it runs natively by default
        wanted = mode or ("whole" if algorithm.initial_noises_only and not algorithm.uses_gradients
                          and all(v.preview_sigma is None for v in verifiers) and not cls.draws_noise
                          else "native")
        if wanted == "whole":
            return cls
        native = native_class(cls)
        if native is None:
            if mode == "native":
                raise UsageError(f"{cls.pipeline_name} has no native denoiser adapter; families with one: "
                                 f"{', '.join(NATIVE_FAMILIES)}; leave model.mode unset (whole-pipeline mode)")
            return cls  # the executor names what whole-pipeline mode cannot do
        return native

    @classmethod
    def nfe_per_call(cls, guidance: float) -> int:
        """Classifier-free guidance doubles evaluations where the pipeline uses it (not FLUX's distilled guidance,
        whose real CFG is ``true_cfg_scale``, left off)."""
        return 2 if cls.guided and guidance > 1.0 else 1

    @classmethod
    def sample_calls(cls, sampler: str, steps: int) -> int:
        """The scheduler's timesteps for ``steps`` steps: one denoiser call each (Heun's schedulers make 2 x steps - 1)."""
        import diffusers

        scheduler_cls = getattr(diffusers, cls.scheduler or "", None)
        if scheduler_cls is None or cls.scheduler_config is None:
            return steps
        try:
            scheduler = scheduler_cls.from_config(cls.scheduler_config)
            scheduler.set_timesteps(steps)
            return len(scheduler.timesteps)
        except (TypeError, ValueError):  # FLUX's dynamic shifting wants the image size: one call per step all the same
            return steps

    @classmethod
    def check_size(cls, height: int, width: int) -> None:
        if cls.fixed_size and (height, width) != (cls.default_height, cls.default_width):
            raise UsageError(f"{cls.pipeline_name} makes {cls.default_height}x{cls.default_width} images only; "
                             "leave model.height and model.width unset")
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
        self._encoded: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}

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
        return {} if self.fixed_size else {"height": height, "width": width}

    def _condition_args(self, conditions: Sequence[Condition], guidance: Optional[float] = None) -> dict:
        """The conditioning keywords of a call: class labels, cached prompt embeddings where the family's
        ``encode_prompt`` is known (each prompt encoded once per run), else the prompts themselves."""
        if self.condition_kind == "class":
            return {"class_labels": [condition.class_label for condition in conditions]}
        names = ENCODED_AS.get(self.pipeline_name)
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
        if self.draws_noise:
            config = self.pipe.transformer.config
            return (config.in_channels, config.sample_size, config.sample_size)
        if (height, width) not in self._shapes:
            original = self.pipe.prepare_latents

            def probe(*args, **kwargs):
                latents = original(*args, **kwargs)
                raise _Probe(tuple((latents[0] if isinstance(latents, tuple) else latents).shape[1:]))

            self.pipe.prepare_latents = probe
            try:
                probe_condition = Condition(prompt="probe") if self.condition_kind == "prompt" else Condition(class_label=0)
                self.pipe(**self._condition_args([probe_condition]), **self._size_args(height, width),
                          num_inference_steps=1, output_type="latent")
            except _Probe as found:
                self._shapes[(height, width)] = found.shape
            finally:
                del self.pipe.prepare_latents
            if (height, width) not in self._shapes:
                raise UsageError(f"{self.pipeline_name} never prepared latents; whole-pipeline mode cannot drive it")
        return self._shapes[(height, width)]

    def sigmas(self, steps: int) -> torch.Tensor:
        """No levels are visible in whole-pipeline mode: one placeholder per denoiser call, from 1 down to 0."""
        return torch.linspace(1.0, 0.0, self.sample_calls("euler", steps) + 1)

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

    def denoise(self, x, sigma, cond, guidance):
        raise RuntimeError("whole-pipeline mode has no denoiser adapter; the executor calls generate()")

    def generate(self, noises: torch.Tensor, conditions: Sequence[Condition], steps: int, guidance: float,
                 height: int, width: int, specs: Sequence[NoiseSpec]) -> torch.Tensor:
        """Images in [0, 1] of ``pipe(..., latents=noises)``; stochastic schedulers draw from per-candidate seeds.

        A pipeline that draws its own noise (DiT) gets one CPU generator per candidate seeded so that it draws
        exactly the candidate's noise: only plain draws (``none``, ``random``) can be searched that way.
        """
        if self.draws_noise:
            seeds = [spec.fresh_seed for spec in specs]
            if any(seed is None for seed in seeds):
                raise UsageError(f"{self.pipeline_name} draws its own noise, so only algorithms whose candidates are "
                                 "plain draws (none, random) can search it")
            generators = [torch.Generator().manual_seed(seed) for seed in seeds]
            output = self.pipe(**self._condition_args(conditions), num_inference_steps=steps, guidance_scale=guidance,
                               generator=generators, output_type="np")
        else:
            generators = [torch.Generator().manual_seed(derive_seed(*spec.seeds, *spec.weights, "scheduler"))
                          for spec in specs]
            output = self.pipe(**self._condition_args(conditions, guidance), latents=noises, num_inference_steps=steps,
                               guidance_scale=guidance, generator=generators, output_type="pt",
                               **self._size_args(height, width))
        return as_image_tensor(output.images if hasattr(output, "images") else output.frames, noises.device)


def family_name(cls: type) -> str:
    """The diffusers pipeline class a (possibly user-derived) pipeline class is: the nearest one diffusers defines."""
    return next((base.__name__ for base in cls.__mro__ if base.__module__.startswith("diffusers.")), cls.__name__)


def as_image_tensor(images, device: torch.device) -> torch.Tensor:
    """A pipeline's output (tensor or array; images or video frames) as images (B, C, H, W) in [0, 1].

    Video pipelines return (B, F, ...): verifiers judge the middle frame.
    """
    if not isinstance(images, torch.Tensor):  # numpy, channels last: (B, H, W, C) or (B, F, H, W, C)
        import numpy as np

        images = torch.from_numpy(np.asarray(images)).movedim(-1, -3)
    if images.dim() == 5:
        images = images[:, images.shape[1] // 2]
    return images.to(device).float().clamp(0, 1).contiguous()
