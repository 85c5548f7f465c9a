"""Helpers the built-in algorithms share: flow-time levels, budget checks, top-k selection."""

from __future__ import annotations

from typing import Sequence

from noisesearch.plugin import BudgetError, Outcome, UsageError


def sigma_of_time(t: float) -> float:
    """Flow time t (x_t = (1 - t) x0 + t noise) as the VE noise level of equal signal-to-noise ratio."""
    return 0.0 if t <= 0 else t / (1 - t)


def require(condition: bool, algorithm: str, message: str) -> None:
    """Raise the one-line UsageError of a hyperparameter that makes no sense."""
    if not condition:
        raise UsageError(f"algorithm {algorithm!r}: {message}")


def require_budget(algorithm: str, needed: int, budget: int, what: str) -> None:
    """Refuse a budget that cannot pay for ``what`` (``needed`` NFEs)."""
    if needed > budget:
        raise BudgetError(
            f"algorithm {algorithm!r}: {what} needs {needed} NFEs but model.budget_nfe={budget}; "
            f"raise model.budget_nfe to at least {needed} or shrink the algorithm's hyperparameters"
        )


def top(outcomes: Sequence[Outcome], count: int) -> list[Outcome]:
    """The ``count`` best outcomes, ties broken by lower id (deterministic)."""
    return sorted(outcomes, key=lambda o: (-o.score, o.id))[:count]
