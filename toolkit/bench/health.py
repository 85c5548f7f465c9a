"""Verifier health of a study cell: diversity of what it returned, ties of the driving verifier, and how the driving
verifier agrees with the others and the evaluator over the candidates it ranked (verifier hacking shows there)."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

TIE = 1e-6  # relative: two scores closer than this are ties


def vendi(features: torch.Tensor) -> float:
    """The Vendi score (Friedman and Dieng 2023): exp of the entropy of the eigenvalues of the cosine kernel / n, the
    effective number of distinct samples (1 for copies, n for orthogonal features)."""
    unit = torch.nn.functional.normalize(features.double(), dim=-1)
    eigenvalues = torch.linalg.eigvalsh(unit @ unit.T / len(unit)).clamp(min=0)
    positive = eigenvalues[eigenvalues > 1e-12]
    return float(torch.exp(-(positive * positive.log()).sum()))


def mean_vendi(features: torch.Tensor, groups: Sequence[str]) -> Optional[float]:
    """Vendi score of each group's samples (a condition's repeats), averaged over groups with two or more."""
    scores = []
    for group in dict.fromkeys(groups):
        rows = [i for i, g in enumerate(groups) if g == group]
        if len(rows) >= 2:
            scores.append(vendi(features[rows]))
    return float(np.mean(scores)) if scores else None


def is_tie(first: float, second: float) -> bool:
    return abs(first - second) <= TIE * max(1.0, abs(first))


def tie_rate(aggregates: Sequence[Sequence[float]]) -> Optional[float]:
    """Share of searches whose two best finished candidates the driving score cannot separate."""
    decided = [sorted(values, reverse=True) for values in aggregates if len(values) >= 2]
    if not decided:
        return None
    return sum(is_tie(values[0], values[1]) for values in decided) / len(decided)


def mean_kendall(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> Optional[float]:
    """Kendall's tau-b between two scorings of each search's candidates, averaged over searches where it is
    defined (two or more candidates, neither scoring constant)."""
    from scipy.stats import kendalltau

    taus = []
    for first, second in pairs:
        if len(first) >= 2 and len(set(first)) > 1 and len(set(second)) > 1:
            tau = kendalltau(first, second).statistic
            if math.isfinite(tau):
                taus.append(float(tau))
    return float(np.mean(taus)) if taus else None
