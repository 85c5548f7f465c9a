"""The journal's schema, typed: a candidate line, a result line and the tensors of an artifact (as Optuna's journal
storage types its operations). Every reader of a run (resume, the run report, bench, ``show``) goes through here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import torch

from ..conditions import Condition
from ..imaging import from_uint8

# the tensors an artifact may hold for one candidate
ROOT, X, X0, IMAGE8, GRADIENT, PREVIEW, EARLIER, EARLIER_LEVEL, THUMB = (
    "root", "x", "x0", "image8", "gradient", "preview", "earlier", "earlier_level", "thumb")
FLOAT_IMAGE = "image"  # journals written before images were kept as 8 bits hold them as float32 here

PLAN_FIELDS = ("parents", "start", "renoise_to", "stochastic", "stop", "gradient", "noise", "scored")


def image_of(tensors: dict[str, torch.Tensor]) -> Optional[torch.Tensor]:
    """The finished image an artifact holds, in [0, 1] (8-bit, or float32 in old journals), or None."""
    if IMAGE8 in tensors:
        return from_uint8(tensors[IMAGE8])
    return tensors.get(FLOAT_IMAGE)


BASELINE = -1  # the candidate id of a search's no-search baseline (``model.baseline``); algorithms' ids are >= 0


@dataclass(frozen=True)
class ArtifactRef:
    """Where a record's tensors lie: one batch's safetensors file (relative to the journal folder) and its slice."""

    file: str
    key: str

    def tensor_name(self, name: str) -> str:
        """The key of one of this record's tensors inside the batch's file."""
        return f"{self.key}.{name}"


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate: its search, id, plan (how it was made), scores, NFEs and artifact."""

    KIND: ClassVar[str] = "candidate"

    search: str
    repeat: int
    id: int
    scores: dict[str, float]
    nfe: int
    replayable: bool = True
    parents: tuple[int, ...] = ()
    start: Optional[int] = None
    renoise_to: Optional[float] = None
    stochastic: bool = False
    stop: float = 0.0
    gradient: bool = False
    noise: Optional[dict] = None
    artifact: Optional[ArtifactRef] = None
    scored: bool = True  # False: a kept state nobody weighed (its scores are NaN)

    @property
    def key(self) -> tuple[str, int, int]:
        """(search, repeat, id): the candidate's identity in a run."""
        return self.search, self.repeat, self.id

    @property
    def level(self) -> float:
        """The noise level it was scored at (0 for a finished sample)."""
        return float(self.stop or 0.0)

    @property
    def lineage(self) -> list[int]:
        """The candidates it came from: the state it continued first, then its other parents."""
        parents = list(self.parents)
        if self.start is not None and self.start not in parents:
            parents.insert(0, self.start)
        return parents

    def plan(self) -> dict:
        """The journaled plan, in the form replay compares with what the code now proposes."""
        return {"parents": list(self.parents), "start": self.start, "renoise_to": self.renoise_to,
                "stochastic": self.stochastic, "stop": self.stop, "gradient": self.gradient, "noise": self.noise,
                "scored": self.scored}

    def to_json(self) -> dict:
        line = {"type": self.KIND, "search": self.search, "repeat": self.repeat, "id": self.id, **self.plan(),
                "scores": self.scores, "nfe": self.nfe, "replayable": self.replayable}
        if self.scored:
            del line["scored"]  # the lines of scored candidates read as they always did
        if self.artifact is not None:
            line["artifact"] = {"file": self.artifact.file, "key": self.artifact.key}
        return line

    @classmethod
    def from_json(cls, line: dict) -> "CandidateRecord":
        artifact = line.get("artifact")
        return cls(search=line["search"], repeat=line["repeat"], id=line["id"], scores=line["scores"], nfe=line["nfe"],
                   replayable=line.get("replayable", True), parents=tuple(line.get("parents") or ()),
                   start=line.get("start"), renoise_to=line.get("renoise_to"),
                   stochastic=bool(line.get("stochastic", False)), stop=line.get("stop") or 0.0,
                   gradient=bool(line.get("gradient", False)), noise=line.get("noise"),
                   scored=bool(line.get("scored", True)),
                   artifact=ArtifactRef(artifact["file"], artifact["key"]) if artifact else None)

    def with_artifact(self, artifact: ArtifactRef) -> "CandidateRecord":
        return dataclasses.replace(self, artifact=artifact)


@dataclass(frozen=True)
class ResultRecord:
    """One finished search: what ``summary.json`` lists and the journal's result line holds."""

    KIND: ClassVar[str] = "result"

    index: int
    condition: dict
    repeat: int
    image: str
    noise: str
    candidate: int
    score: float
    scores: dict[str, float]
    nfe: int
    candidates: int
    replayable: bool = True
    noise_seed: Optional[int] = None
    seconds: Optional[float] = None
    first_candidate: Optional[int] = None  # the first plain draw of the search, what no search would have returned
    first_scores: Optional[dict[str, float]] = None
    ties: Optional[int] = None  # other finished candidates tied with the chosen one on the aggregate
    trace: Optional[dict] = None  # the algorithm's own account of the search (SMC: ESS and survivors per level)
    verdict: Optional[bool] = None  # the world's judge on the chosen image, where the pipeline has one
    first_verdict: Optional[bool] = None  # and on the first plain draw (what no search would have returned)
    category: Optional[str] = None  # the judge's category of the condition
    animation: Optional[str] = None  # a clip: its animated WebP beside the frame strip (``image``)
    video: Optional[str] = None  # a clip: its MP4
    extra: dict[str, Any] = field(default_factory=dict)  # fields a newer writer added, kept as they are

    @property
    def search(self) -> str:
        """The condition's key: the search's identity in the journal, with ``repeat``."""
        return Condition(**self.condition).key

    @property
    def key(self) -> tuple[str, int]:
        return self.search, self.repeat

    def to_json(self) -> dict:
        """The entry of ``summary.json``'s ``results``."""
        entry = {"index": self.index, "condition": self.condition, "repeat": self.repeat, "image": self.image,
                 "noise": self.noise, "candidate": self.candidate, "score": self.score, "scores": self.scores,
                 "nfe": self.nfe, "candidates": self.candidates, "replayable": self.replayable}
        for name in ("noise_seed", "seconds", "first_candidate", "first_scores", "ties", "trace", "verdict",
                     "first_verdict", "category", "animation", "video"):
            if getattr(self, name) is not None:
                entry[name] = getattr(self, name)
        return {**entry, **self.extra}

    @classmethod
    def from_json(cls, entry: dict) -> "ResultRecord":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in entry.items() if k in known},
                   extra={k: v for k, v in entry.items() if k not in known})

    def line(self) -> dict:
        """The journal line of this result."""
        return {"type": self.KIND, "search": self.search, "repeat": self.repeat, "record": self.to_json()}

    @classmethod
    def from_line(cls, line: dict) -> "ResultRecord":
        return cls.from_json(line["record"])
