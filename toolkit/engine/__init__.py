"""The engine: runs ask/tell searches, batching every search's candidates through the denoiser and verifiers.

``loop`` (the rounds), ``check`` (before any candidate runs), ``plans`` (denoising), ``gradients``, ``scoring``,
``replay`` (journal records and replay), ``selection``, ``whole`` (whole-pipeline capability), ``state`` and
``types``: docs/architecture.md draws them.
"""

from .check import Schedule, check
from .loop import AlgorithmError, Executor, ExecutorStats, Shard
from .replay import ReplayMismatch, plan_of
from .scoring import Scorer, preview_level
from .types import SearchResult, SearchSettings, Task

__all__ = ["AlgorithmError", "Executor", "ExecutorStats", "ReplayMismatch", "Schedule", "Scorer", "SearchResult",
           "SearchSettings", "Shard", "Task", "check", "plan_of", "preview_level"]
