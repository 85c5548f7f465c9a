"""Former home of the executor, kept so that plugins importing ``noisesearch.executor`` keep working: see
``noisesearch.engine``."""

from .engine import (  # noqa: F401
    AlgorithmError,
    Executor,
    ReplayMismatch,
    SearchResult,
    SearchSettings,
    Shard,
    Task,
    plan_of,
    preview_level,
)
from .engine.records import PLAN_FIELDS  # noqa: F401
