"""What a search is conditioned on: a class label or a prompt, and the parsing of ``data.classes``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional

from .errors import UsageError


@dataclass(frozen=True)
class Condition:
    """One conditioning input: exactly one of a class label or a prompt."""

    class_label: Optional[int] = None
    prompt: Optional[str] = None

    def __post_init__(self):
        if (self.class_label is None) == (self.prompt is None):
            raise ValueError("a Condition holds exactly one of class_label or prompt")

    @property
    def kind(self) -> str:
        return "class" if self.class_label is not None else "prompt"

    def as_dict(self) -> dict:
        return {"class_label": self.class_label} if self.kind == "class" else {"prompt": self.prompt}

    @property
    def key(self) -> str:
        """A stable identity string; noises derive from it, never from a position in a batch."""
        return f"class:{self.class_label}" if self.kind == "class" else f"prompt:{self.prompt}"

    @classmethod
    def from_key(cls, key: str) -> "Condition":
        """The condition a ``key`` names (``class:3``, ``prompt:a red fox``), as journals record it."""
        kind, _, value = key.partition(":")
        return cls(class_label=int(value)) if kind == "class" else cls(prompt=value)

    @property
    def slug(self) -> str:
        """A file-name-safe label: ``class3`` or the sanitised prompt plus a short hash."""
        if self.kind == "class":
            return f"class{self.class_label}"
        words = re.sub(r"[^a-z0-9]+", "-", self.prompt.lower()).strip("-")[:48] or "prompt"
        return f"{words}-{hashlib.sha256(self.prompt.encode()).hexdigest()[:8]}"


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_classes(spec: str) -> list[int]:
    """Parse ``"3"``, ``"0,4,7"`` or ``"0-9"`` (and mixes like ``"0-2,7"``) into class labels, in order."""
    labels: list[int] = []
    for part in str(spec).split(","):
        match = _RANGE.match(part)
        if not match:
            raise UsageError(f"malformed data.classes {spec!r}: use e.g. '3', '0,4,7' or '0-9'")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise UsageError(f"malformed data.classes {spec!r}: range {part.strip()!r} runs backwards")
        labels.extend(range(lo, hi + 1))
    return labels
