"""The ``diffusers`` family: one description object per model, read before loading (from a folder, a hub id or a
pipeline object handed over from Python), which loads the model and picks whole or native mode per search."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from noisesearch.plugin import Family, UsageError, sampler_class

from .native import NATIVE_FAMILIES, NativeDiffusers
from .schedule import dpm2m_form, is_flow, unipc_form
from .source import call_defaults, default_size, looks_like_hub_id, pipeline_class, read_json
from .video import nearest_frames, temporal_ratio
from .whole import WholeDiffusers, family_name, load_pipe

NATIVE_HINT = ", or model.mode native where the family has a denoiser adapter (docs/pipelines.md)"


class DiffusersFamily(Family):
    """One diffusers model described without loading it: what its pipeline class, scheduler and configs say
    (the core reads it before anything loads); it loads the model as a ``WholeDiffusers``, which wraps the pipe."""

    name = "diffusers"
    whole = True
    can_offload = True
    class_names = None
    default_sampler = "euler"
    other_mode_hint = NATIVE_HINT

    def __init__(self, pipeline_name: str, call: dict, scheduler: Optional[str], scheduler_config: Optional[dict],
                 side: Optional[int], classes: Optional[int], loaded: Any = None, temporal: int = 1,
                 sample_frames: Optional[int] = None):
        draws = "latents" not in call
        if draws and ("generator" not in call or "class_labels" not in call):
            raise UsageError(f"{pipeline_name} takes no latents=, so its noise cannot be searched; supported: "
                             "pipelines whose __call__ takes latents= (Stable Diffusion 1.x/2.x/XL/3, FLUX, "
                             "PixArt, Sana, video pipelines...) and DiT")
        if "prompt" in call:
            self.condition_kind = "prompt"
        elif "class_labels" in call:
            self.condition_kind = "class"
        else:
            raise UsageError(f"{pipeline_name} takes neither prompt nor class_labels; it cannot be conditioned")
        steps, guidance = call.get("num_inference_steps"), call.get("guidance_scale")
        self.pipeline_name = pipeline_name
        self.num_classes = classes if self.condition_kind == "class" else None
        self.draws_noise = draws  # DiT: no latents=; the noise is what its generator draws
        self.fixed_size = "height" not in call
        self.scheduler = scheduler
        self.scheduler_config = scheduler_config
        self.default_steps = steps if isinstance(steps, int) else 28
        self.default_guidance = float(guidance) if isinstance(guidance, (int, float)) else 1.0
        self.default_height = self.default_width = side or 512
        self.guided = "guidance_scale" in call and "true_cfg_scale" not in call  # FLUX: distilled guidance
        self.default_verifiers = ("clip",) if self.condition_kind == "prompt" else ("clip-zeroshot",)
        self.loaded = loaded  # a pipeline object handed over from Python: loading takes it as it is
        frames, rate = call.get("num_frames"), call.get("frame_rate")
        # a video pipeline's default clip length (CogVideoX's is its transformer's sample_frames)
        self.default_frames = (frames if isinstance(frames, int) else sample_frames) if "num_frames" in call else None
        self.default_frame_rate = rate if isinstance(rate, int) else None
        self.temporal = temporal  # frames per latent frame (the video VAE's temporal compression)

    @classmethod
    def read(cls, source: str) -> "DiffusersFamily":
        """The model at a folder or hub id, from its model_index.json and configs."""
        index = read_json(source, "model_index.json")
        if index is None:
            raise UsageError(f"{source!r} is no diffusers pipeline: it has no model_index.json")
        pipe_cls = pipeline_class(index, source)
        scheduler = (index.get("scheduler") or [None, None])[1]
        scheduler_config = read_json(source, "scheduler/scheduler_config.json") if scheduler else None
        call = call_defaults(pipe_cls)
        transformer = read_json(source, "transformer/config.json") or {} if "transformer" in index else {}
        classes = transformer.get("num_embeds_ada_norm") if "class_labels" in call else None
        return cls(family_name(pipe_cls), call, scheduler, scheduler_config, default_size(pipe_cls, source, index),
                   classes, temporal=temporal_ratio(read_json(source, "vae/config.json") or {}),
                   sample_frames=transformer.get("sample_frames"))

    @classmethod
    def of(cls, pipe: Any) -> "DiffusersFamily":
        """A pipeline object already loaded in Python (its own scheduler and configs)."""
        scheduler = type(pipe.scheduler).__name__ if getattr(pipe, "scheduler", None) is not None else None
        size = getattr(pipe, "default_sample_size", None)
        if size is None:
            denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
            size = getattr(getattr(denoiser, "config", None), "sample_size", None)
        side = int(size) * int(getattr(pipe, "vae_scale_factor", 8)) if size else None
        call = call_defaults(type(pipe))
        transformer = getattr(pipe, "transformer", None)
        classes = dict(transformer.config).get("num_embeds_ada_norm") if transformer is not None else None
        vae = getattr(pipe, "vae", None)
        return cls(family_name(type(pipe)), call, scheduler, dict(pipe.scheduler.config) if scheduler else None,
                   side, classes, loaded=pipe, temporal=temporal_ratio(dict(vae.config) if vae is not None else {}),
                   sample_frames=dict(transformer.config).get("sample_frames") if transformer is not None else None)

    def display_name(self) -> str:
        return self.pipeline_name

    def load(self, source: Optional[str]) -> WholeDiffusers:
        """Load the pipe (or take the handed-over one) and wrap it."""
        return WholeDiffusers(self, self.loaded if self.loaded is not None else load_pipe(source))

    def for_search(self, mode: Optional[str], algorithm: type, verifiers: Sequence[type]) -> Any:
        """Whole-pipeline mode where the search needs only initial noises and final images (parity by
        construction); the native adapter where it needs more, for pipelines that draw their own noise, or where
        ``model.mode native`` asks for it."""
        wanted = mode or ("whole" if algorithm.initial_noises_only and not algorithm.uses_gradients
                          and all(v.preview_sigma is None for v in verifiers) and not self.draws_noise
                          else "native")
        if wanted == "whole":
            return self
        if self.pipeline_name not in NATIVE_FAMILIES:
            if mode == "native":
                raise UsageError(f"{self.pipeline_name} has no native denoiser adapter; families with one: "
                                 f"{', '.join(NATIVE_FAMILIES)}; leave model.mode unset (whole-pipeline mode)")
            return self  # the executor names what whole-pipeline mode cannot do
        return NativeFamily.of(self)

    def nfe_per_call(self, guidance: float) -> int:
        """Classifier-free guidance doubles evaluations where the pipeline uses it (not FLUX's distilled guidance,
        whose real CFG is ``true_cfg_scale``, left off)."""
        return 2 if self.guided and guidance > 1.0 else 1

    def sample_calls(self, sampler: str, steps: int) -> int:
        """The scheduler's timesteps for ``steps`` steps: one denoiser call each (Heun's schedulers make
        2 x steps - 1)."""
        import diffusers

        scheduler_cls = getattr(diffusers, self.scheduler or "", None)
        if scheduler_cls is None or self.scheduler_config is None:
            return steps
        try:
            scheduler = scheduler_cls.from_config(self.scheduler_config)
            scheduler.set_timesteps(steps)
            return len(scheduler.timesteps)
        except (TypeError, ValueError):  # FLUX's dynamic shifting wants the image size: one call per step all the same
            return steps

    def check_size(self, height: int, width: int) -> None:
        if self.fixed_size and (height, width) != (self.default_height, self.default_width):
            raise UsageError(f"{self.pipeline_name} makes {self.default_height}x{self.default_width} images only; "
                             "leave model.height and model.width unset")
        if height % 8 or width % 8:
            raise UsageError(f"{self.pipeline_name} makes sizes in multiples of 8 (at least); got {height}x{width}")

    def check_frames(self, frames: Optional[int], frame_rate: Optional[int]) -> None:
        super().check_frames(frames, frame_rate)
        if frames is not None and (frames - 1) % self.temporal:
            raise UsageError(f"model.frames {frames}: {self.pipeline_name}'s VAE compresses time {self.temporal}x, so "
                             f"it makes 1 + a multiple of {self.temporal} frames; use "
                             f"{nearest_frames(frames, self.temporal)}")

    def check_sampler(self, sampler: str) -> None:
        raise UsageError(f"model.sampler does not apply to {self.pipeline_name}: whole-pipeline mode runs the "
                         f"pipeline's own scheduler ({self.scheduler}); leave model.sampler unset")


class NativeFamily(DiffusersFamily):
    """The native variant of a described diffusers model: the same description, with the core's samplers stepping
    its scheduler's levels instead of ``pipe()`` (``of`` makes one from the whole-mode description)."""

    whole = False
    latent_previews = True

    @property
    def frame_previews(self) -> bool:
        """Video pipelines decode previews from some latent frames (``model.preview_frames``)."""
        return self.default_frames is not None

    @classmethod
    def of(cls, described) -> "NativeFamily":
        """The native variant of ``described`` (a ``DiffusersFamily``): its fields, this class's behaviour."""
        native = cls.__new__(cls)
        native.__dict__.update(described.__dict__)
        native.described = described
        native.default_sampler = native.scheduler_sampler()
        return native

    def check_sampler(self, sampler: str) -> None:
        if sampler == "heun" and is_flow(self.scheduler or ""):
            raise UsageError(f"model.sampler heun cannot start {self.pipeline_name}'s flow at t = 1 (infinite noise "
                             "level); use euler, which is its FlowMatchEuler step")

    def scheduler_sampler(self) -> str:
        """The core sampler whose step is the pipeline's scheduler's: DPM-Solver++(2M) for a DPMSolverMultistep
        scheduler in its default form, UniPC for a UniPCMultistep one in its default (Wan's) form, the DDIM / Euler
        step otherwise."""
        config = self.scheduler_config or {}
        if self.scheduler == "DPMSolverMultistepScheduler" and dpm2m_form(config):
            return "dpm2m"
        return "unipc" if self.scheduler == "UniPCMultistepScheduler" and unipc_form(config) else "euler"

    def sample_calls(self, sampler: str, steps: int) -> int:
        """One call per scheduler timestep with euler; heun adds a correction on every step but the last."""
        return sampler_class(sampler).solve_calls(self.described.sample_calls("euler", steps))

    def load(self, source: Optional[str]) -> NativeDiffusers:
        return NativeDiffusers(self, self.described.load(source))


class Diffusers(Family):
    """Any diffusers pipeline taking latents=: run whole, or step by step through its family's native adapter."""

    name = "diffusers"
    whole = True
    condition_kind = "prompt"
    default_sampler = "euler"
    default_verifiers = ("clip",)
    can_offload = True

    @classmethod
    def claims(cls, folder: Path) -> bool:
        return (folder / "model_index.json").is_file()

    @classmethod
    def claims_spec(cls, spec: str) -> bool:
        return looks_like_hub_id(spec)

    @classmethod
    def claims_object(cls, model: Any) -> bool:
        try:
            from diffusers import DiffusionPipeline
        except ImportError:
            return False
        return isinstance(model, DiffusionPipeline)

    @classmethod
    def for_source(cls, source: str) -> DiffusersFamily:
        return DiffusersFamily.read(source)

    @classmethod
    def for_object(cls, model: Any) -> DiffusersFamily:
        return DiffusersFamily.of(model)

    def load(self, source: Optional[str]) -> WholeDiffusers:
        if source is None:
            raise UsageError("model.pipeline diffusers needs a model: pass its folder or hub id as model.pipeline")
        return self.for_source(source).load(source)


__all__ = ["Diffusers", "DiffusersFamily", "NativeDiffusers", "NativeFamily"]
