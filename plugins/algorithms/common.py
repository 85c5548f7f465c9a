"""Helpers the built-in algorithms share: flow-time levels, budget checks, top-k selection."""

from __future__ import annotations

from typing import Sequence

from noisesearch.plugin import BudgetError, NoiseSpec, Outcome, UsageError


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


BANDS = ("all", "low")


def require_bands(name: str, params, shape=None) -> None:
    """``band`` all or low, ``cutoff`` in (0, 1), wavelet ``levels`` an integer in 0 .. 6 (0: the FFT split at
    cutoff); with the latent's ``shape``, its sides divisible by 2^levels."""
    require(params.band in BANDS, name, f"band={params.band!r}; use one of {BANDS}")
    require(0 < params.cutoff < 1, name, f"cutoff={params.cutoff} must lie in (0, 1)")
    levels = params.levels
    require(isinstance(levels, int) and 0 <= levels <= 6, name, f"levels={levels!r} must be an integer in 0 .. 6 "
            "(0: split the bands by the FFT at cutoff)")
    if shape and levels:
        height, width = shape[-2:]
        require(height % 2**levels == 0 and width % 2**levels == 0, name,
                f"levels={levels} needs latent sides divisible by {2**levels}; these are {height}x{width}: lower "
                "levels")


def in_bands(spec: NoiseSpec, params) -> NoiseSpec:
    """A recipe split into bands as the search's ``cutoff`` (FFT) or wavelet ``levels`` say."""
    return NoiseSpec(spec.seeds, spec.weights, spec.bands, params.cutoff, levels=params.levels)


def band_part(spec: NoiseSpec, band: str) -> NoiseSpec:
    """The part of a recipe in ``band``: "all" terms become ``band`` terms; terms of the other band drop."""
    if band == "all":
        return spec
    kept = [(s, w, b) for s, w, b in zip(spec.seeds, spec.weights, spec.bands) if b in ("all", band)]
    return NoiseSpec(tuple(s for s, _, _ in kept), tuple(w for _, w, _ in kept), tuple(band for _ in kept),
                     spec.cutoff, levels=spec.levels)
