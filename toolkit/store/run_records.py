"""A run's records above the journal, typed (as ``records`` types the journal's lines): ``RunHeader`` (run.json, the
head of summary.json), ``Cost`` (summary.json's cost), ``Part`` (one rank's figures, parts/rankN.json) and
``Summary`` (header, cost and one ``ResultRecord`` per search). Each has one reader, ``from_json``; the files read
and write as they always did, and keys a newer writer added ride along in ``extra``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..model_args import NAMES, RECORDED, ModelArgs
from .records import ResultRecord

DERIVED = ("higher_is_better", "seed", "sample_nfe", "scheduler", "noisesearch")


@dataclass(frozen=True)
class RunHeader:
    """The settings that fix a run's results: its ``model`` settings as resolved (``model``; settings a run does not
    record, or an older version did not, at their defaults) and what follows from them."""

    model: ModelArgs
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    seed: int = 0
    sample_nfe: Optional[int] = None
    scheduler: Optional[str] = None  # the family's own scheduler, when it samples with one
    noisesearch: Optional[str] = None  # the version that started the run (run.json)
    extra: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = field(default=(), compare=False)  # the keys the file held (what an older run recorded)

    @property
    def verifier_names(self) -> list[str]:
        """The verifiers' names, in order (their specs without arguments)."""
        return list(self.higher_is_better) or [spec.partition(":")[0] for spec in self.verifier_specs]

    @property
    def verifier_specs(self) -> list[str]:
        verifiers = self.model.verifiers
        return [verifiers] if isinstance(verifiers, str) else list(verifiers or [])

    @property
    def driving_verifier(self) -> Optional[str]:
        """The name of the run's first verifier (the one its searches are driven by when it is alone)."""
        names = self.verifier_names
        return names[0] if names else None

    def higher(self, verifier: Optional[str]) -> bool:
        return self.higher_is_better.get(verifier, True) if verifier else True

    def to_json(self) -> dict:
        line = {name: getattr(self.model, name) for name in RECORDED}
        line.update(higher_is_better=self.higher_is_better, seed=self.seed, sample_nfe=self.sample_nfe)
        for name in ("scheduler", "noisesearch"):
            if getattr(self, name) is not None:
                line[name] = getattr(self, name)
        return {**line, **self.extra}

    @classmethod
    def from_json(cls, entry: dict) -> "RunHeader":
        model = ModelArgs(**{name: entry[name] for name in NAMES if name in entry})
        derived = {name: entry[name] for name in DERIVED if name in entry}
        extra = {key: value for key, value in entry.items() if key not in NAMES and key not in DERIVED}
        return cls(model=model, **derived, extra=extra, keys=tuple(entry))


COST_KEYS = ("nfe_used", "elapsed_s", "denoiser_s", "verifier_s", "batch_size_settled", "batch_size_auto",
             "compile_warmup_s", "parts", "nfe_reached", "baseline_nfe")


@dataclass(frozen=True)
class Cost:
    """What a run cost over every part of it: NFEs, wall seconds (the slowest rank), seconds in the denoiser and in
    each verifier (summed over ranks), the batch size that fit, and how many parts it ran in."""

    nfe_used: int = 0
    elapsed_s: Optional[float] = None
    denoiser_s: Optional[float] = None
    verifier_s: dict[str, float] = field(default_factory=dict)
    batch_size_settled: Optional[int] = None
    batch_size_auto: Optional[dict] = None  # ``batch_size auto``: the size chosen and the rates measured
    compile_warmup_s: Optional[float] = None
    parts: int = 1
    nfe_reached: Optional[list[int]] = None  # ``budget_seconds``: the least and most NFEs a search reached
    baseline_nfe: Optional[int] = None  # ``model.baseline``: NFEs of the no-search baselines, apart from nfe_used

    def to_json(self) -> dict:
        line = {"nfe_used": self.nfe_used, "elapsed_s": self.elapsed_s, "denoiser_s": self.denoiser_s,
                "verifier_s": self.verifier_s, "batch_size_settled": self.batch_size_settled}
        for name in ("batch_size_auto", "compile_warmup_s", "baseline_nfe"):
            if getattr(self, name):
                line[name] = getattr(self, name)
        line["parts"] = self.parts
        if self.nfe_reached is not None:
            line["nfe_reached"] = self.nfe_reached
        return line

    @classmethod
    def from_json(cls, entry: dict) -> "Cost":
        return cls(**{key: entry[key] for key in COST_KEYS if key in entry and entry[key] is not None})


@dataclass(frozen=True)
class Part:
    """One rank's figures over every part of a run so far (an earlier part's plus this part's)."""

    elapsed_s: float = 0.0
    denoiser_s: float = 0.0
    verifier_s: dict[str, float] = field(default_factory=dict)
    batch_size: Optional[int] = None
    batch_size_auto: Optional[dict] = None
    compile_warmup_s: float = 0.0
    parts: int = 0

    def plus(self, elapsed_s: float, denoiser_s: float, verifier_s: dict[str, float], batch_size: Optional[int],
             batch_size_auto: Optional[dict], compile_warmup_s: float) -> "Part":
        """This part added to the earlier ones."""
        seconds = dict(self.verifier_s)
        for name, value in verifier_s.items():
            seconds[name] = seconds.get(name, 0.0) + value
        return Part(self.elapsed_s + elapsed_s, self.denoiser_s + denoiser_s, seconds,
                    batch_size or self.batch_size, batch_size_auto or self.batch_size_auto,
                    self.compile_warmup_s + compile_warmup_s, self.parts + 1)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, entry: dict) -> "Part":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in entry.items() if key in known and value is not None})


@dataclass(frozen=True)
class Summary:
    """summary.json: the run's header, its cost and one record per search (in task order)."""

    header: RunHeader
    cost: Cost
    results: list[ResultRecord]

    def to_json(self) -> dict:
        return {**self.header.to_json(), **self.cost.to_json(), "results": [r.to_json() for r in self.results]}

    @classmethod
    def from_json(cls, entry: dict) -> "Summary":
        rest = {key: value for key, value in entry.items() if key not in COST_KEYS and key != "results"}
        return cls(RunHeader.from_json(rest), Cost.from_json(entry),
                   [ResultRecord.from_json(result) for result in entry.get("results", [])])
