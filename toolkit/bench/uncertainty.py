"""Uncertainty of a study's metrics: seeded bootstrap intervals clustered by prompt, and paired tests against random
search.

A cell's per-search values (``row["per_search"]``) define every per-search metric as a statistic of a set of search
indices, so one resampling of the indices gives every metric's bootstrap replicate, and a joint resampling of two
cells' indices (same conditions, same seeds) gives a paired difference. A study repeats each prompt (condition) many
times, so the resampling is two-stage (Davison & Hinkley's cluster bootstrap): draw the conditions with replacement,
then the searches within each drawn condition with replacement; the intervals then speak of prompts like these, not
only of these prompts. Percentile intervals over ``RESAMPLES`` resamples from ``numpy.random.default_rng(seed)``;
``numpy.percentile`` with its default (linear) interpolation at 2.5 and 97.5. ``mc_error`` is the Monte Carlo error
of a bound (the spread of the bound over ten batches of the resamples, over the square root of ten).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

if TYPE_CHECKING:
    from .rows import CellRow

RESAMPLES = 2000
LEVEL = 0.95


def judged(per_search: dict) -> bool:
    return "category" in per_search


def prepared(per_search: dict) -> dict[str, np.ndarray]:
    """A cell's per-search values as arrays, converted once for all resamples: verdicts as 1, 0 or NaN."""
    arrays = {name: np.asarray(values, dtype=float) for name, values in per_search.items()
              if name.startswith("verifier:")}
    if "correct" in per_search:
        arrays["correct"] = np.asarray([np.nan if c is None else float(c) for c in per_search["correct"]])
    if judged(per_search):
        arrays["category"] = np.asarray(per_search["category"], dtype=object)
    return arrays


def metric_value(name: str, arrays: dict[str, np.ndarray], rows: np.ndarray) -> float:
    """A per-search metric over the searches ``rows`` (indices, repeats allowed) of ``prepared`` values; NaN where
    it is undefined."""
    if name.startswith("verifier:"):
        values = arrays[name][rows]
        return float(values.mean()) if len(values) else math.nan
    correct = arrays["correct"][rows]
    decided = np.isfinite(correct)
    if "category" not in arrays:
        return float(correct[decided].mean()) if decided.any() else math.nan
    categories = arrays["category"][rows]
    if name.startswith("accuracy:"):
        mine = correct[(categories == name[len("accuracy:"):]) & decided]
        return float(mine.mean()) if len(mine) else math.nan
    means = [correct[(categories == c) & decided].mean() for c in dict.fromkeys(categories)
             if ((categories == c) & decided).any()]
    return float(np.mean(means)) if means else math.nan


def per_search_metrics(per_search: dict) -> list[str]:
    """The metrics a cell's per-search values define."""
    names = []
    if "correct" in per_search:
        names.append("accuracy")
        if judged(per_search):
            names += [f"accuracy:{c}" for c in dict.fromkeys(c for c in per_search["category"] if c is not None)]
    return names + [name for name in per_search if name.startswith("verifier:")]


def cluster_of(key) -> str:
    """The condition a search key belongs to: ``KEY#REPEAT`` without its repeat and a pooled study's ``N|`` prefix
    (keys without either, such as counts entered as searches, are clusters of one)."""
    text = str(key)
    return text.split("|", 1)[-1].rsplit("#", 1)[0] if "#" in text else text


def clusters(keys: Sequence) -> list[np.ndarray]:
    """The search indices of each condition, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(cluster_of(key), []).append(index)
    return [np.asarray(members) for members in groups.values()]


def resamples(keys: Sequence, seed: int, count: int = RESAMPLES) -> list[np.ndarray]:
    """``count`` two-stage bootstrap resamples of search indices: conditions with replacement, then searches within
    each drawn condition with replacement (the plain bootstrap when every search is its own condition)."""
    groups = clusters(keys)
    rng = np.random.default_rng(seed)
    if all(len(group) == 1 for group in groups):
        return list(rng.integers(0, len(groups), size=(count, len(groups))))
    flat = np.concatenate(groups)
    sizes = np.asarray([len(group) for group in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = rng.integers(0, len(groups), size=(count, len(groups)))
    draws = []
    for chosen in picks:
        repeated = np.repeat(chosen, sizes[chosen])
        within = (rng.random(len(repeated)) * sizes[repeated]).astype(int)
        draws.append(flat[starts[repeated] + within])
    return draws


def _interval(replicates: Sequence[float], level: Optional[float] = None) -> Optional[list[float]]:
    finite = np.asarray([r for r in replicates if math.isfinite(r)])
    if len(finite) < len(replicates) or not len(finite):
        return None  # a resample without the searches a metric needs: no interval
    tail = 100 * (1 - (level or LEVEL)) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def mc_error(replicates: Sequence[float], level: Optional[float] = None, batches: int = 10) -> Optional[float]:
    """The Monte Carlo error of an interval's bounds (the larger of the two): each bound's spread over ``batches``
    batches of the replicates, over the square root of ``batches``."""
    values = np.asarray(replicates, dtype=float)
    if not np.isfinite(values).all() or len(values) < 2 * batches:
        return None
    bounds = np.asarray([_interval(batch, level) for batch in np.array_split(values, batches)])
    return float((bounds.std(axis=0, ddof=1) / math.sqrt(batches)).max())


def intervals(per_search: dict, seed: int, level: Optional[float] = None) -> dict[str, Optional[list[float]]]:
    """The prompt-clustered bootstrap interval (95%, or ``level``) of every per-search metric of one cell."""
    arrays, draws = prepared(per_search), resamples(per_search["key"], seed)
    return {name: _interval([metric_value(name, arrays, rows) for rows in draws], level)
            for name in per_search_metrics(per_search)}


def _paired_p(name: str, cell: dict, reference: dict) -> tuple[Optional[float], str]:
    """Two-sided p-value of a paired test: exact McNemar on per-search verdicts, Wilcoxon signed-rank on scores."""
    from scipy.stats import binomtest, wilcoxon

    if name.startswith("verifier:"):
        differences = np.asarray(cell[name], float) - np.asarray(reference[name], float)
        if not np.any(differences != 0):
            return 1.0, "wilcoxon"
        return float(wilcoxon(differences).pvalue), "wilcoxon"
    pairs = zip(cell["correct"], reference["correct"], cell.get("category", [None] * len(cell["correct"])))
    wanted = name[len("accuracy:"):] if name.startswith("accuracy:") else None
    only_cell = only_reference = 0
    for mine, theirs, category in pairs:
        if mine is None or theirs is None or (wanted is not None and category != wanted):
            continue
        only_cell += bool(mine) and not theirs
        only_reference += bool(theirs) and not mine
    if only_cell + only_reference == 0:
        return 1.0, "mcnemar-exact"
    return float(binomtest(only_cell, only_cell + only_reference, 0.5).pvalue), "mcnemar-exact"


def paired(cell: dict, reference: dict, seed: int, level: Optional[float] = None) -> list[dict]:
    """Per metric: the cell's value minus the reference's on the same searches, its paired prompt-clustered bootstrap
    interval (95%, or ``level``) with the bounds' Monte Carlo error, and a paired test's p-value. Both cells must hold
    the same searches in the same order."""
    if cell["key"] != reference["key"]:
        raise ValueError("paired cells must hold the same searches (conditions and repeats) in the same order")
    draws = resamples(cell["key"], seed)
    everything = np.arange(len(cell["key"]))
    mine, theirs = prepared(cell), prepared(reference)
    results = []
    for name in per_search_metrics(cell):
        if name not in per_search_metrics(reference):
            continue
        replicates = [metric_value(name, mine, rows) - metric_value(name, theirs, rows) for rows in draws]
        p_value, test = _paired_p(name, cell, reference)
        cell_value, reference_value = metric_value(name, mine, everything), metric_value(name, theirs, everything)
        results.append({"metric": name, "cell_value": cell_value, "reference_value": reference_value,
                        "difference": cell_value - reference_value, "interval": _interval(replicates, level),
                        "mc_error": mc_error(replicates, level), "p_value": p_value, "test": test})
    return results


def nearest_reference(row: "CellRow", rows: list["CellRow"], axis: str = "nfe") -> Optional["CellRow"]:
    """The random-search cell a cell is compared with: driven by the same verifiers (any, for the steps baseline),
    at the NFEs per search (``axis`` nfe) or the wall-clock seconds per search (``seconds``) nearest its own, the
    cheaper on a tie."""
    def cost(r: "CellRow") -> Optional[float]:
        return r.nfe_used if axis == "nfe" else r.seconds

    candidates = [r for r in rows if r.algorithm == "random" and not r.baseline and not r.infeasible
                  and r is not row and (row.baseline or r.verifier == row.verifier) and cost(r) is not None]
    if not candidates or row.infeasible or row.algorithm == "random" and not row.baseline or cost(row) is None:
        return None
    return min(candidates, key=lambda r: (abs(cost(r) - cost(row)), cost(r)))
