"""The stable API for plugin authors: everything an algorithm, verifier or pipeline plugin needs, in one import.

    from noisesearch.plugin import hookimpl, SearchAlgorithm, Proposal, Outcome

Names here keep working across releases; modules behind them may move (docs/plugins.md). ``API_VERSION`` is the
plugin API this release speaks: a plugin module declares the version it targets as ``NOISESEARCH_API``, and every
change to these names and to the protocols is listed in CHANGELOG.md with its deprecation schedule. The built-in
plugins import the core through this module only (an import-linter contract holds them to it).
"""

from __future__ import annotations

from .algorithm import GRADIENT_COST, Outcome, Proposal, SearchAlgorithm, SearchContext
from .compat import API_VERSION, PluginDeprecation
from .clips import judged_frames
from .conditions import Condition
from .errors import BudgetError, ServiceError, UsageError, first_line
from .evaluation import Evaluation
from .hookspecs import hookimpl
from .imaging import ImageInput, pooled, shrunk
from .noise import NoiseSpec, band_filter, derive_seed
from .pipeline import ClassFamily, Family, Pipeline, RunSpec
from .sampling import frames
from .sampling.denoiser import BACKWARD_COST, CountingDenoiser, levels_of, on_device
from .sampling.frames import EDM, FlowMatching, Frame, VariancePreserving
from .sampling.samplers import SAMPLERS, Sampler, Step, sampler_class
from .sampling.schedule import karras_sigmas
from .student import condition_vector, load_student
from .verifier import Latents, Verifier, parse_options


def registered(kind: str) -> dict[str, type]:
    """Every registered plugin class of one kind (``algorithms``, ``verifiers``, ``pipelines``) by name (those that
    fit their protocol)."""
    from . import registry

    return {entry.name: entry.cls for entry in registry.usable(kind)}


__all__ = [
    "API_VERSION", "BACKWARD_COST", "BudgetError", "ClassFamily", "Condition", "CountingDenoiser", "EDM",
    "Evaluation", "Family", "FlowMatching", "Frame", "GRADIENT_COST", "ImageInput", "Latents", "NoiseSpec",
    "Outcome", "Pipeline", "PluginDeprecation", "Proposal", "RunSpec", "SAMPLERS", "Sampler", "SearchAlgorithm",
    "SearchContext", "ServiceError", "Step", "UsageError", "VariancePreserving", "Verifier", "band_filter",
    "condition_vector", "derive_seed", "first_line", "frames", "hookimpl", "karras_sigmas", "levels_of", "load_student", "on_device",
    "parse_options", "pooled", "registered", "sampler_class", "shrunk", "judged_frames",
]
