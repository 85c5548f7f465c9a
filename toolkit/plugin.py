"""The stable API for plugin authors: everything an algorithm, verifier or pipeline plugin needs, in one import.

    from noisesearch.plugin import hookimpl, SearchAlgorithm, Proposal, Outcome

Names here keep working across releases; modules behind them may move (docs/plugins.md).
"""

from .sampling import frames
from .algorithm import GRADIENT_COST, Outcome, Proposal, SearchAlgorithm, SearchContext
from .conditions import Condition
from .sampling.denoiser import BACKWARD_COST, CountingDenoiser
from .errors import ServiceError, UsageError
from .evaluation import Evaluation
from .sampling.frames import EDM, FlowMatching, Frame, VariancePreserving
from .hookspecs import hookimpl
from .imaging import ImageInput
from .noise import NoiseSpec, derive_seed
from .pipeline import Pipeline
from .sampling.samplers import SAMPLERS, Sampler
from .sampling.schedule import karras_sigmas
from .verifier import Verifier, parse_options

__all__ = [
    "BACKWARD_COST", "Condition", "CountingDenoiser", "EDM", "Evaluation", "FlowMatching", "Frame", "GRADIENT_COST",
    "ImageInput", "NoiseSpec", "Outcome", "Pipeline", "Proposal", "SAMPLERS", "Sampler", "SearchAlgorithm",
    "SearchContext", "ServiceError", "Verifier", "UsageError", "VariancePreserving", "derive_seed", "frames",
    "hookimpl", "karras_sigmas", "parse_options",
]
