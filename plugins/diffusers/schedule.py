"""A diffusers scheduler's timesteps as noise levels of the core's sigma schedule, with the family's frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from noisesearch.plugin import FlowMatching, Frame, UsageError, VariancePreserving

EULER_SCHEDULERS = ("DDIMScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler", "CogVideoXDDIMScheduler")
DDIM_SCHEDULERS = ("DDIMScheduler", "CogVideoXDDIMScheduler")


def dpm2m_form(config: dict) -> bool:
    """Whether a DPMSolverMultistep configuration is DPM-Solver++(2M) as the core's ``dpm2m`` takes it."""
    return (config.get("solver_order", 2) == 2 and config.get("algorithm_type", "dpmsolver++") == "dpmsolver++"
            and config.get("solver_type", "midpoint") == "midpoint"
            and config.get("final_sigmas_type", "zero") == "zero" and not config.get("thresholding", False))


def unipc_form(config: dict) -> bool:
    """Whether a UniPCMultistep configuration is UniPC as the core's ``unipc`` takes it (Wan's and the default)."""
    return (config.get("solver_order", 2) == 2 and config.get("predict_x0", True)
            and config.get("solver_type", "bh2") == "bh2" and config.get("lower_order_final", True)
            and not config.get("disable_corrector") and config.get("solver_p") is None
            and config.get("final_sigmas_type", "zero") == "zero" and not config.get("thresholding", False))


def is_flow(scheduler_name: str) -> bool:
    """Flow-matching schedulers (SD3, FLUX, Sana) step in t, not in a VP noise level."""
    return scheduler_name.startswith("FlowMatch")


@dataclass
class Schedule:
    """The solve's levels (sigma labels, a final 0), the model timestep of each, and how to name other levels."""

    levels: torch.Tensor
    timesteps: torch.Tensor
    frame: Frame
    prediction: str  # epsilon, v_prediction, sample or flow
    train_sigmas: np.ndarray  # VP: the training schedule's sigma at timesteps 0..T-1 (for interpolation)
    train_steps: int
    differs: str | None = None  # why the core's Euler step is not this scheduler's own step, if it is not

    def match(self, sigma: float, tolerance: float = 1e-5) -> float:
        """The schedule level ``sigma`` stands for (within a relative ``tolerance``, for sigmas rounded to a low
        precision), or ``sigma`` itself when it lies between levels (search over paths re-noises anywhere)."""
        if math.isinf(sigma) or sigma == 0.0:
            return sigma
        finite = [level for level in self.levels.tolist() if math.isfinite(level) and level > 0]
        nearest = min(finite, key=lambda level: abs(math.log(level) - math.log(sigma)), default=None)
        if nearest is not None and abs(nearest - sigma) <= tolerance * nearest:
            return nearest
        return sigma

    def timestep(self, level: float) -> float:
        """The model timestep of ``level``: the scheduler's own at its levels, interpolated between them."""
        for known, timestep in zip(self.levels.tolist(), self.timesteps.tolist()):
            if known == level:
                return timestep
        if isinstance(self.frame, FlowMatching):
            return (1.0 if math.isinf(level) else level / (1.0 + level)) * self.train_steps
        log_sigmas = np.log(np.maximum(self.train_sigmas, 1e-12))
        return float(np.interp(math.log(max(level, 1e-12)), log_sigmas, np.arange(len(log_sigmas))))


def read_schedule(scheduler, sampler: str = "euler", prediction_override: str | None = None) -> Schedule:
    """The schedule of a scheduler on which ``set_timesteps`` has run (as the pipeline itself ran it)."""
    name = type(scheduler).__name__
    timesteps = scheduler.timesteps.detach().cpu().to(torch.float64)
    if len(set(timesteps.tolist())) != len(timesteps):
        raise UsageError(f"{name} evaluates some timesteps twice (a second-order scheduler); the native adapter "
                         "steps once per timestep: give the pipeline a DDIM, Euler or DPM-Solver scheduler")
    train_steps = int(scheduler.config.num_train_timesteps)
    if is_flow(name) or scheduler.config.get("use_flow_sigmas"):  # Wan's UniPC and DPM-Solver step in flow t too
        t = scheduler.sigmas.detach().cpu().to(torch.float64)
        levels = torch.tensor([math.inf if float(v) >= 1.0 else float(v) / (1.0 - float(v)) for v in t])
        levels[-1] = 0.0
        return Schedule(levels, timesteps, FlowMatching(), "flow", np.zeros(0), train_steps,
                        _difference(scheduler, name, timesteps, sampler))
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        raise UsageError(f"{name} is neither a variance-preserving nor a flow-matching scheduler; the native "
                         "adapter cannot read its noise levels")
    alphas = alphas.detach().cpu().to(torch.float64)
    train_sigmas = ((1 - alphas) / alphas).sqrt().numpy()
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and len(sigmas) == len(timesteps) + 1:
        levels = sigmas.detach().cpu().to(torch.float64).clone()
        levels[-1] = 0.0
    else:
        levels = torch.cat([torch.tensor(train_sigmas[timesteps.long().numpy()]), torch.zeros(1)])
    final = getattr(scheduler, "final_alpha_cumprod", None)  # DDIM's last step stops at this alpha
    floor = 0.0 if final is None else math.sqrt((1 - float(final)) / float(final))
    prediction = prediction_override or scheduler.config.get("prediction_type", "epsilon")
    return Schedule(levels, timesteps, VariancePreserving(floor), prediction, train_sigmas, train_steps,
                    _difference(scheduler, name, timesteps, sampler))


def _difference(scheduler, name: str, timesteps: torch.Tensor, sampler: str) -> str | None:
    """Why this scheduler's own step is not the core ``sampler``'s step between its levels (None when it is)."""
    if name == "DPMSolverMultistepScheduler" and dpm2m_form(scheduler.config):
        return None if sampler == "dpm2m" else f"{name} takes DPM-Solver++(2M) steps (model.sampler dpm2m)"
    if name == "UniPCMultistepScheduler" and unipc_form(scheduler.config):
        return None if sampler == "unipc" else f"{name} takes UniPC steps (model.sampler unipc)"
    if name not in EULER_SCHEDULERS:
        return f"{name} is neither a DDIM, Euler or FlowMatchEuler scheduler nor DPM-Solver++(2M)"
    if sampler != "euler":
        return f"{name} takes the DDIM / Euler step (model.sampler euler)"
    if scheduler.config.get("clip_sample") or scheduler.config.get("thresholding"):
        return f"{name} clips or thresholds its predictions"
    if name in DDIM_SCHEDULERS:
        stride = scheduler.config.num_train_timesteps // len(timesteps)
        if any(int(a) - stride != int(b) for a, b in zip(timesteps[:-1].tolist(), timesteps[1:].tolist())):
            return (f"DDIM with timestep_spacing {scheduler.config.timestep_spacing!r} steps to levels between its "
                    "timesteps")
    return None
