"""Sampling maths in sigma space: the denoiser protocol and NFE counter, latent frames, ODE samplers, schedules.

Knows no Lightning and no model library (k-diffusion's ``sampling.py`` is the model).
"""

from .denoiser import BACKWARD_COST, CountingDenoiser, Denoiser
from .frames import EDM, FlowMatching, Frame, VariancePreserving
from .samplers import SAMPLER_NAMES, SAMPLERS, Sampler, Step, sampler_class
from .schedule import ancestral_step, karras_sigmas, renoise, sigmas_between

__all__ = ["BACKWARD_COST", "CountingDenoiser", "Denoiser", "EDM", "FlowMatching", "Frame", "SAMPLERS", "SAMPLER_NAMES",
           "Sampler", "Step", "VariancePreserving", "ancestral_step", "karras_sigmas", "renoise", "sampler_class",
           "sigmas_between"]
