"""A study's rows, typed: one ``CellRow`` per cell (results.json's entries), its cost, its verifier health and its
paired comparisons with random search. ``CellRow.from_json`` is the one reader; results.json reads and writes as it
always did, and keys a newer writer added ride along in ``extra``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class PairedMetric:
    """One metric of a cell against its reference on the same searches: values, difference, its paired bootstrap
    interval and a paired test's p-value."""

    metric: str
    cell_value: float
    reference_value: float
    difference: float
    interval: Optional[list[float]]
    p_value: Optional[float]
    test: str
    mc_error: Optional[float] = None  # the Monte Carlo error of the interval's bounds


@dataclass(frozen=True)
class Comparison:
    """A cell against a random-search cell (``reference``): its paired metrics, or why none could be made."""

    reference: str
    metrics: list[PairedMetric] = field(default_factory=list)
    skipped: Optional[str] = None

    def metric(self, name: str) -> Optional[PairedMetric]:
        return next((entry for entry in self.metrics if entry.metric == name), None)

    def to_json(self) -> dict:
        line = {"reference": self.reference, "metrics": [dataclasses.asdict(m) for m in self.metrics]}
        return {**line, "skipped": self.skipped} if self.skipped is not None else line

    @classmethod
    def from_json(cls, entry: Optional[dict]) -> Optional["Comparison"]:
        if not entry:
            return None
        return cls(entry["reference"], [PairedMetric(**m) for m in entry.get("metrics", [])], entry.get("skipped"))


@dataclass(frozen=True)
class CellCost:
    """A cell's seconds: the whole run, in the denoiser, in each verifier, and per search."""

    wall_s: Optional[float] = None
    denoiser_s: Optional[float] = None
    verifier_s: dict[str, float] = field(default_factory=dict)
    wall_s_per_search: Optional[float] = None


@dataclass(frozen=True)
class Health:
    """Diversity of a cell's returned samples, its driving score's tie rate, and Kendall's tau of that score with
    every other verifier and the evaluator."""

    vendi: Optional[float] = None
    vendi_features: Optional[str] = None
    tie_rate: Optional[float] = None
    kendall_tau: dict[str, Optional[float]] = field(default_factory=dict)


@dataclass
class CellRow:
    """One cell of a study as measured: what ran, its metrics with their intervals, its per-search values (what
    every interval and comparison is recomputed from), cost, health and comparisons; or why it could not run."""

    cell: str
    algorithm: str
    algorithm_args: dict[str, Any]
    verifier: str
    baseline: bool
    steps: Optional[int]
    budget_nfe: Optional[int]
    budget_seconds: Optional[float]
    nfe_used: Optional[float]
    searches: int
    drove: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    per_search: dict[str, list] = field(default_factory=dict)
    intervals: dict[str, Optional[list[float]]] = field(default_factory=dict)
    point_estimates: list[str] = field(default_factory=list)
    cost: CellCost = field(default_factory=CellCost)
    health: Health = field(default_factory=Health)
    unjudged: Optional[int] = None  # searches whose prompt the evaluator cannot parse
    comparison: Optional[Comparison] = None  # against random search at the nearest NFEs a search
    comparison_seconds: Optional[Comparison] = None  # at the nearest seconds a search
    infeasible: Optional[str] = None  # why the budget could not pay for one round
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> Optional[float]:
        """Wall-clock seconds a search."""
        return self.cost.wall_s_per_search

    def label(self) -> str:
        """The cell as a person reads it: algorithm, its arguments and verifiers, or the steps baseline."""
        if self.baseline:
            return f"steps baseline, {self.steps} steps"
        args = ", ".join(f"{k} {v}" for k, v in self.algorithm_args.items())
        return f"{self.algorithm}{f' ({args})' if args else ''}, {self.verifier}"

    def to_json(self) -> dict:
        line: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                continue
            if f.name in ("comparison", "comparison_seconds", "infeasible", "unjudged") and value is None:
                continue
            if f.name in ("per_search", "intervals", "point_estimates", "cost", "health") and self.infeasible:
                continue
            if isinstance(value, Comparison):
                value = value.to_json()
            elif isinstance(value, Health):  # what a cell could not measure is left out, as it always was
                value = {key: found for key, found in dataclasses.asdict(value).items() if found not in (None, {})}
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            line[f.name] = value
        return {**line, **self.extra}

    @classmethod
    def from_json(cls, entry: dict) -> "CellRow":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {key: value for key, value in entry.items() if key in known}
        values["cost"] = CellCost(**(entry.get("cost") or {}))
        values["health"] = Health(**(entry.get("health") or {}))
        values["comparison"] = Comparison.from_json(entry.get("comparison"))
        values["comparison_seconds"] = Comparison.from_json(entry.get("comparison_seconds"))
        return cls(**values, extra={key: value for key, value in entry.items() if key not in known})


def read_rows(path) -> list[CellRow]:
    """A study's results.json as typed rows."""
    import json
    from pathlib import Path

    return [CellRow.from_json(entry) for entry in json.loads(Path(path).read_text())]
