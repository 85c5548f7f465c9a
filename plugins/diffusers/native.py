"""The native denoiser adapter: a diffusers pipeline's denoiser as ``D(z, sigma, cond) -> x0`` at every level.

With it the core's sampler drives the model step by step, so every algorithm runs: partial solves, re-noising and
ancestral steps (search over paths, SMC, beam, halving; Ma et al. 2025, Singhal et al. 2025), gradients through
the sampler, and x0-previews for the self-supervised verifier. The family's conditioning is what its own pipeline
builds (read by ``capture``), its levels are what its own scheduler sets (``schedule``), and its latent frame
(variance-preserving or flow matching) makes the core's Euler step the scheduler's DDIM / Euler / FlowMatchEuler
step, so a plain solve reproduces ``pipe(latents=...)``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Optional, Sequence

import torch

from noisesearch.plugin import Condition, Pipeline, RunSpec, UsageError, first_line, levels_of, on_device, shrunk

from .capture import capture_first_call, flatten, per_row, unflatten
from .schedule import read_schedule
from .source import call_defaults
from .video import VIDEO_FAMILIES, decode_clips, decode_some_frames, expert_of

NATIVE_FAMILIES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline", "StableDiffusion3Pipeline", "FluxPipeline",
                   "PixArtSigmaPipeline", "SanaPipeline", "DiTPipeline", *VIDEO_FAMILIES)
CONDITIONED_FIRST = ("DiTPipeline",)  # its guided batch is [conditioned, null]; the others put the null rows first
log = logging.getLogger("noisesearch")
PROBE_CHUNK = 8  # conditions per capturing call (its latents are drawn, never denoised)


class NativeDiffusers(Pipeline):
    """A loaded diffusers pipeline driven step by step: wraps its whole-mode pipeline (loading, conditioning,
    offload) as k-diffusion's external wrappers wrap a model, and calls its denoiser at the core's levels."""

    name = "diffusers"

    def __init__(self, family, inner: Pipeline):
        super().__init__(None)
        self.family = family
        self.inner = inner
        self.conditioned_first = family.pipeline_name in CONDITIONED_FIRST  # DiT: [conditioned, null]
        self.video = VIDEO_FAMILIES.get(family.pipeline_name)  # a text-to-video family's decoding and guidance

    @property
    def pipe(self):
        return self.inner.pipe

    @property
    def offloaded(self) -> bool:
        return getattr(self.inner, "offloaded", False)

    def offload(self, device: torch.device) -> None:
        self.inner.offload(device)

    def placement(self) -> tuple[torch.device, torch.dtype]:
        return self.inner.placement()

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        return self.inner.latent_shape(height, width)

    def configure(self, run: RunSpec) -> None:
        """Read the run's schedule and the denoiser's calling convention from one captured call (once per settings,
        dtype and device)."""
        super().configure(run)
        self.inner.configure(run)
        steps, guidance, height, width, sampler = run.steps, run.guidance, run.height, run.width, run.sampler
        parameter = next(self.model.parameters())
        key = (steps, guidance, height, width, sampler, run.frames, run.frame_rate, parameter.dtype, parameter.device)
        if getattr(self, "configured", None) == key:
            return
        self.model_dtype = parameter.dtype
        self.rows_cache: dict[Condition, dict[str, dict[tuple, torch.Tensor]]] = {}
        parameters = list(inspect.signature(type(self.model).forward).parameters)
        self.sample_name, self.timestep_name = parameters[1], "timestep"
        probe = Condition(prompt="probe") if self.family.condition_kind == "prompt" else Condition(class_label=0)
        ones = None if self.family.draws_noise else torch.ones((1,) + tuple(self.latent_shape(height, width)))
        captured = self._capture([probe], latents=ones)
        # what the pipeline feeds its denoiser from latents= (Euler's init_noise_sigma and input scaling, say)
        self.start_scale = 1.0 if ones is None else float(captured.arguments[self.sample_name].flatten()[0])
        self.schedule = read_schedule(captured.scheduler, sampler)
        self.frame = self.schedule.frame
        if self.schedule.differs and not getattr(self, "warned", False):
            log.warning("native mode samples the scheduler's levels with model.sampler %s, but %s, so images differ "
                        "from pipe(latents=...); whole-pipeline mode reproduces them", sampler, self.schedule.differs)
            self.warned = True
        given = captured.arguments.get(self.timestep_name)
        if given is None:
            raise UsageError(f"{self.family.pipeline_name} calls its denoiser without a timestep; the native "
                             "adapter cannot drive it: use an algorithm of initial noises (whole-pipeline mode)")
        self.timestep_tokens = given.shape[1] if torch.is_tensor(given) and given.dim() == 2 else None  # Wan 2.2 5B
        given = torch.as_tensor(given).flatten()
        self.timestep_dtype = given.dtype if given.is_floating_point() else torch.float32
        self.timestep_scale = float(given[0]) / float(self.schedule.timesteps[0])
        self.shared: Optional[dict[tuple, Any]] = None
        self.configured = key

    def denoiser_network(self) -> torch.nn.Module:
        return self.model

    @property
    def model(self) -> torch.nn.Module:
        """The pipeline's denoiser (not registered here: with offload it must stay out of the module tree)."""
        return getattr(self.pipe, "unet", None) or self.pipe.transformer

    @property
    def separate_guidance(self) -> bool:
        """Whether this run guides by a second denoiser call on the null rows (Wan) instead of a doubled batch."""
        return bool(self.video and self.video.separate_guidance and self.family.nfe_per_call(self.run.guidance) == 2)

    def _expert(self, timestep: float) -> torch.nn.Module:
        """The denoiser of a level: Wan 2.2's high-noise or low-noise expert, else the one denoiser."""
        if self.video is None or not self.video.experts or expert_of(self.pipe, timestep) == 0:
            return self.model
        return self.pipe.transformer_2

    def _capture(self, conditions: Sequence[Condition], latents: Optional[torch.Tensor] = None):
        steps, guidance, height, width = self.run.steps, self.run.guidance, self.run.height, self.run.width
        defaults = call_defaults(type(self.pipe))
        call = {**self.inner._condition_args(conditions, guidance), "num_inference_steps": steps,
                **self.inner._size_args(height, width)}
        if "guidance_scale" in defaults:
            call["guidance_scale"] = guidance
        if "output_type" in defaults:
            call["output_type"] = "latent"
        if latents is not None:
            call["latents"] = latents.to(self.pipe.device, self.model_dtype)
        with torch.no_grad():
            return capture_first_call(self.pipe, self.model, 2 if self.separate_guidance else 1, **call)

    def sigmas(self, steps: int) -> torch.Tensor:
        return self.schedule.levels

    def initial_latents(self, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """The pipeline's own start: its ``latents=`` as its denoiser first sees them (pure noise in flow matching
        and DDIM; scaled by Euler's ``init_noise_sigma`` over its input scaling)."""
        return noise * self.start_scale

    def encode(self, conditions: Sequence[Condition]) -> dict[str, dict[tuple, torch.Tensor]]:
        """Each distinct condition's rows of the denoiser's arguments, conditioned and null (captured once per
        condition and settings, so a prompt is encoded once however many searches and steps use it). Rows and
        encodings of conditions outside this batch are dropped: memory stays that of one batch of conditions."""
        self.inner._keep_encodings(conditions)
        self.rows_cache = {condition: rows for condition, rows in self.rows_cache.items() if condition in conditions}
        missing = [condition for condition in dict.fromkeys(conditions) if condition not in self.rows_cache]
        for start in range(0, len(missing), PROBE_CHUNK):
            chunk = missing[start:start + PROBE_CHUNK]
            captured = self._capture(chunk)
            arguments = flatten(captured.arguments)
            if self.shared is None:
                self._learn_layout(chunk, arguments)
            split = self._split(arguments, len(chunk), flatten(captured.calls[-1]))
            for i, condition in enumerate(chunk):
                self.rows_cache[condition] = {part: {path: value[i:i + 1] for path, value in rows.items()}
                                              for part, rows in split.items()}
        return {part: {path: torch.cat([self.rows_cache[c][part][path] for c in conditions])
                       for path in self.rows_cache[conditions[0]][part]}
                for part in ("cond", "null") if self.rows_cache[conditions[0]][part]}

    def _learn_layout(self, chunk: list[Condition], arguments: dict[tuple, Any]) -> None:
        """Which arguments are per row (found by capturing one more row) and whether the batch is doubled by CFG."""
        larger = flatten(self._capture(chunk + chunk[:1]).arguments)
        sample = (self.sample_name,)
        rows = (arguments[sample].shape[0], larger[sample].shape[0])
        self.guided_rows = rows[0] == 2 * len(chunk)
        if (self.guided_rows or self.separate_guidance) != (self.family.nfe_per_call(self.run.guidance) == 2):
            raise UsageError(f"{self.family.pipeline_name} does not double its batch for guidance as its NFE "
                             "count assumes; the native adapter cannot count its evaluations: use whole-pipeline mode")
        self.row_paths = per_row(arguments, larger, rows) - {sample, (self.timestep_name,)}
        self.shared = {path: value for path, value in arguments.items()
                       if path not in self.row_paths and path not in (sample, (self.timestep_name,))}

    def _split(self, arguments: dict[tuple, Any], count: int,
               last: dict[tuple, Any]) -> dict[str, dict[tuple, torch.Tensor]]:
        """The conditioned and null rows of a captured call (of its second call, where guidance makes one)."""
        cond, null = {}, {}
        for path in self.row_paths:
            value = arguments[path]
            if self.separate_guidance:
                cond[path], null[path] = value, last[path]
                continue
            if not self.guided_rows:
                cond[path] = value
                continue
            first, second = value[:count], value[count:]
            cond[path], null[path] = (first, second) if self.conditioned_first else (second, first)
        return {"cond": cond, "null": null}

    def select(self, encoded: dict, index: torch.Tensor) -> dict:
        return {part: {path: value[index.to(value.device)] for path, value in rows.items()}
                for part, rows in encoded.items()}

    def _forward(self, model: torch.nn.Module, sample: torch.Tensor, timesteps: torch.Tensor,
                 rows: dict[tuple, torch.Tensor]) -> torch.Tensor:
        """One denoiser call on the captured arguments with these rows; a learned variance dropped."""
        arguments = {**self.shared, **rows, (self.sample_name,): sample, (self.timestep_name,): timesteps,
                     ("return_dict",): False}
        output = model(**unflatten(arguments))[0]
        if output.shape != sample.shape:  # learned variance (PixArt, DiT): the first half is the prediction
            output = output[:, : sample.shape[1]]
        return output.float()

    def denoise(self, z: torch.Tensor, sigma: torch.Tensor, cond: dict) -> torch.Tensor:
        """x0 from the denoiser's output (epsilon, v or flow velocity; a learned variance dropped), guided on the
        output as the pipeline guides."""
        tolerance = max(1e-5, 4 * torch.finfo(sigma.dtype).eps)
        values = levels_of(sigma)  # the sampler's host copy: no step waits for the device
        matched = {value: self.schedule.match(value, tolerance) for value in set(values)}
        levels = [matched[value] for value in values]
        shape = (-1,) + (1,) * (z.dim() - 1)
        a, b = (on_device(c, z).view(shape) for c in zip(*(self.frame.coefficients(level) for level in levels)))
        host_timesteps = [self.schedule.timestep(level) * self.timestep_scale for level in levels]
        timesteps = on_device(host_timesteps, z, self.timestep_dtype)
        experts = [self._expert(t) for t in host_timesteps]
        if any(expert is not experts[0] for expert in experts):  # Wan 2.2 rows on both sides of the boundary
            rows = [i for i, expert in enumerate(experts) if expert is experts[0]]
            rest = [i for i, expert in enumerate(experts) if expert is not experts[0]]
            out = torch.empty_like(z)
            for part in (rows, rest):
                index = torch.tensor(part, device=z.device)
                out[index] = self.denoise(z[index], sigma[index], self.select(cond, index))
            return out
        model, guidance = experts[0], self.run.guidance  # Wan 2.2's guidance_scale_2 is left unset: the same
        if self.timestep_tokens is not None:
            timesteps = timesteps[:, None].expand(-1, self.timestep_tokens)
        sample = z.to(self.model_dtype)
        if self.separate_guidance:
            conditioned = self._forward(model, sample, timesteps, cond["cond"])
            null = self._forward(model, sample, timesteps, cond["null"])
            output = null + guidance * (conditioned - null)
        else:
            if self.guided_rows:
                parts = ("cond", "null") if self.conditioned_first else ("null", "cond")
                rows = {path: torch.cat([cond[parts[0]][path], cond[parts[1]][path]]) for path in self.row_paths}
                sample, timesteps = torch.cat([sample, sample]), torch.cat([timesteps, timesteps])
            else:
                rows = cond["cond"]
            output = self._forward(model, sample, timesteps, rows)
        if self.guided_rows:
            first, second = output.chunk(2)
            conditioned, null = (first, second) if self.conditioned_first else (second, first)
            output = null + guidance * (conditioned - null)
        latent = z.float()
        prediction = self.schedule.prediction
        if prediction == "epsilon":
            x0 = (latent - b * output) / a
        elif prediction == "v_prediction":
            x0 = a * latent - b * output
        elif prediction == "flow":
            x0 = latent - b * output
        elif prediction == "sample":
            x0 = output
        else:
            raise UsageError(f"{self.family.pipeline_name}'s scheduler predicts {prediction!r}, which the native "
                             "adapter does not read; use whole-pipeline mode")
        return x0.to(z.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The pipeline's own decoding: unpack (FLUX), undo the VAE's scaling and shift, decode to [0, 1]; a video
        family's clips (B, F, C, H, W)."""
        if self.video is not None:
            return decode_clips(self.pipe, self.family.pipeline_name, z, self.run)
        pipe, height, width = self.pipe, self.run.height, self.run.width
        image = _decoded(pipe.vae, self._unpacked(z))
        binned = image.shape[-2:] != (height, width) and not self.family.fixed_size  # PixArt, Sana
        if binned:
            image = pipe.image_processor.resize_and_crop_tensor(image, width, height)
        return (image / 2 + 0.5).clamp(0, 1)

    def decode_preview(self, z: torch.Tensor, size: Optional[int] = None) -> torch.Tensor:
        """An x0-preview decoded by the tiny autoencoder when one is attached (else the pipeline's VAE); with
        ``size``, the latent is area-averaged down first, so the decoder runs at the lower size too."""
        vae = self.__dict__.get("preview_vae") or self.pipe.vae
        if self.video is not None:  # a video VAE decodes the clip whole (or some frames); they are then shrunk
            count = self.__dict__.get("preview_frames")
            return shrunk(self.decode(z) if count is None else
                          decode_some_frames(self.pipe, self.family.pipeline_name, z, self.run, count), size)
        if vae is self.pipe.vae and size is None:
            return self.decode(z)
        z = self._unpacked(z)
        side = max(self.run.height, self.run.width)
        if size is not None and size < side:
            h, w = z.shape[-2:]
            z = torch.nn.functional.interpolate(z.float(), size=(max(1, round(h * size / side)),
                                                                 max(1, round(w * size / side))), mode="area")
        image = (_decoded(vae, z) / 2 + 0.5).clamp(0, 1)
        return shrunk(image, size)

    def limit_preview_frames(self, frames: int) -> None:
        """Decode a video's previews from ``frames`` of its latent frames (``model.preview_frames``)."""
        if self.video is None:
            super().limit_preview_frames(frames)
        self.preview_frames = frames

    def attach_preview_decoder(self, source: str) -> None:
        """Load a diffusers ``AutoencoderTiny`` (TAESD, TAESDXL, TAESD3, TAEF1) from a folder or hub id, from
        safetensors, beside the pipeline's VAE; it decodes previews only."""
        from diffusers import AutoencoderTiny
        from diffusers.utils import logging as diffusers_logging

        if self.video is not None:
            raise UsageError(f"model.preview_decoder: {self.family.pipeline_name} is a video pipeline, whose previews "
                             "its own video VAE decodes (diffusers has no tiny video autoencoder); leave it unset")
        device, dtype = self.placement()
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # its own saved config names a field it then calls unexpected
        try:
            tiny = AutoencoderTiny.from_pretrained(source, use_safetensors=True, torch_dtype=dtype)
        except (OSError, ValueError, EnvironmentError) as error:
            raise UsageError(f"model.preview_decoder {source!r} holds no AutoencoderTiny in safetensors "
                             f"({first_line(error)}); give a TAESD / TAESDXL / TAESD3 / TAEF1 folder or hub "
                             "id") from None
        finally:
            diffusers_logging.set_verbosity(verbosity)
        wanted = self.pipe.vae.config.latent_channels
        if tiny.config.latent_channels != wanted:
            raise UsageError(f"model.preview_decoder {source!r} decodes {tiny.config.latent_channels}-channel latents, "
                             f"{self.family.pipeline_name}'s have {wanted}: use TAESD for SD 1.x/2.x, TAESDXL for "
                             "SDXL, TAESD3 for SD3 and TAEF1 for FLUX")
        self.__dict__["preview_vae"] = tiny.to(device).eval()  # outside the module tree, as the pipe's parts

    def _unpacked(self, z: torch.Tensor) -> torch.Tensor:
        """Latents in the VAE's layout (FLUX packs 2x2 patches into its sequence)."""
        if hasattr(self.pipe, "_unpack_latents"):
            return self.pipe._unpack_latents(z, self.run.height, self.run.width, self.pipe.vae_scale_factor)
        return z


def _decoded(vae, z: torch.Tensor) -> torch.Tensor:
    """``vae`` decoding latents of the denoiser's frame: its own scaling and shift (or per-channel mean and std)
    undone first, as the pipelines do; images in [-1, 1]."""
    config = vae.config
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        view = (1, -1) + (1,) * (z.dim() - 2)
        z = z * torch.tensor(std).view(view).to(z) / config.scaling_factor + torch.tensor(mean).view(view).to(z)
    else:
        z = z / config.scaling_factor + (getattr(config, "shift_factor", None) or 0.0)
    return vae.decode(z.to(vae.dtype), return_dict=False)[0].float()
