"""Combining verifiers: the unweighted mean of ranks (Ma et al. 2025, section 3.2, "Ensemble")."""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence


def oriented(value: float, higher_is_better: bool) -> float:
    """A score where higher is better; NaN and infinities count as the worst possible score."""
    if not math.isfinite(value):
        return -math.inf
    return value if higher_is_better else -value


def mean_rank(rows: Sequence[Mapping[str, float]]) -> list[float]:
    """For rows of oriented per-verifier scores, each row's mean rank in [0, 1] (1 = best under every verifier).

    With a single verifier the oriented score itself is returned, so one verifier is never distorted by ranking.
    """
    if not rows:
        return []
    names = list(rows[0])
    if len(names) == 1:
        return [row[names[0]] for row in rows]
    n = len(rows)
    totals = [0.0] * n
    for name in names:
        values = [row[name] for row in rows]
        for i, value in enumerate(values):
            below = sum(v < value for v in values)
            ties = sum(v == value for v in values) - 1
            totals[i] += (below + 0.5 * ties) / max(n - 1, 1)
    return [total / len(names) for total in totals]


def weighted_standardized(rows: Sequence[Mapping[str, float]], weights: Mapping[str, float]) -> list[float]:
    """Weighted sum of each verifier's oriented scores standardised over the rows (z-scores).

    A non-finite score (a NaN, an infinity) makes its row the worst; a verifier with no spread contributes 0.
    """
    if not rows:
        return []
    totals = [0.0] * len(rows)
    for name, weight in weights.items():
        values = [row[name] for row in rows]
        finite = [v for v in values if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else 0.0
        spread = (sum((v - mean) ** 2 for v in finite) / len(finite)) ** 0.5 if finite else 0.0
        for i, value in enumerate(values):
            if not math.isfinite(value):
                totals[i] = -math.inf
            elif spread > 0:
                totals[i] += weight * (value - mean) / spread
    return totals


def aggregate(rows: Sequence[Mapping[str, float]], ensemble: str = "rank",
              weights: Optional[Mapping[str, float]] = None) -> list[float]:
    """The ensemble's score of each row of oriented per-verifier scores (higher is better), the one rule scoring,
    the run report and bench share: ``rank`` the mean rank, ``weighted`` the weighted sum of z-scores (every
    verifier weighing 1 where ``weights`` names none)."""
    if ensemble == "weighted":
        names = list(rows[0]) if rows else []
        return weighted_standardized(rows, {name: (weights or {}).get(name, 1.0) for name in names})
    return mean_rank(rows)
