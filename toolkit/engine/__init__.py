"""The engine: runs ask/tell searches, batching every search's candidates through the denoiser and verifiers.

``loop`` (the rounds), ``plans`` (denoising), ``gradients``, ``scoring``, ``replay`` (journal records and replay),
``selection``, ``whole`` (whole-pipeline capability), ``state`` and ``types``: docs/architecture.md draws them.
"""

from .loop import AlgorithmError, Executor, Shard
from .replay import ReplayMismatch, plan_of
from .scoring import Scorer, preview_level
from .types import SearchResult, SearchSettings, Task

__all__ = ["AlgorithmError", "Executor", "ReplayMismatch", "Scorer", "SearchResult", "SearchSettings", "Shard", "Task",
           "plan_of", "preview_level"]
