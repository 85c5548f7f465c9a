"""The engine: runs ask/tell searches, batching every search's candidates through the denoiser and verifiers.

``loop`` (the rounds) with its seams: ``source`` (cohorts admitted between rounds), ``chunks`` (how a chunk runs),
``evaluate`` (three evaluators), ``stopping`` (stoppers), ``progress`` (what observers read), ``encodings``,
``journaling``; and ``check`` (before any candidate runs), ``plans`` (denoising), ``gradients``, ``scoring``,
``replay`` (journal records and replay), ``selection``, ``whole`` (whole-pipeline capability), ``state`` and
``types``: docs/architecture.md draws them.
"""

from .check import Schedule, check
from .journaling import Recorder
from .loop import Executor
from .progress import NfeProgress
from .replay import ReplayMismatch, plan_of
from .scoring import Scorer, preview_level
from .source import Admissions, Cohort, Fixed, SearchSource
from .stopping import Clock, RoundLimit, SignalStop, Stopper
from .types import AlgorithmError, ExecutorStats, SearchResult, SearchSettings, Shard, Task

__all__ = ["Admissions", "AlgorithmError", "Clock", "Cohort", "Executor", "ExecutorStats", "Fixed", "NfeProgress",
           "Recorder", "ReplayMismatch", "RoundLimit", "Schedule", "Scorer", "SearchResult", "SearchSettings",
           "SearchSource", "Shard", "SignalStop", "Stopper", "Task", "check", "plan_of", "preview_level"]
