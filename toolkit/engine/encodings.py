"""The encoded conditions of a loop's searches: each cohort's new conditions encoded once when it joins (one
``pipeline.encode`` call, as a fixed run encodes its distinct conditions once), rows selected per chunk, and the
encodings no running search uses dropped."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import torch

from ..conditions import Condition
from ..pipeline import Pipeline
from .compiled import padded


class Encodings:
    """Conditions encoded by groups (one per ``add``), and the rows of any list of them (``rows``)."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.groups: dict[int, Any] = {}  # group number -> what ``pipeline.encode`` returned
        self.sizes: dict[int, int] = {}  # group number -> its rows
        self.where: dict[Condition, tuple[int, int]] = {}  # condition -> (group, row)
        self.made = 0

    def add(self, conditions: Iterable[Condition]) -> None:
        """Encode the conditions not encoded yet, together."""
        new = [condition for condition in dict.fromkeys(conditions) if condition not in self.where]
        if not new:
            return
        group, self.made = self.made, self.made + 1
        self.groups[group], self.sizes[group] = self.pipeline.encode(new), len(new)
        self.where.update({condition: (group, row) for row, condition in enumerate(new)})

    def rows(self, conditions: Sequence[Condition], pad_to: Optional[int] = None) -> Any:
        """The encoding's rows of ``conditions`` in order (the last one repeated up to ``pad_to`` rows)."""
        places = [self.where[condition] for condition in conditions]
        groups = sorted({group for group, _ in places})
        if len(groups) == 1:
            index = torch.tensor([row for _, row in places])
            return self.pipeline.select(self.groups[groups[0]], padded(index, pad_to))
        offsets, start = {}, 0
        for group in groups:
            offsets[group], start = start, start + self.sizes[group]
        index = torch.tensor([offsets[group] + row for group, row in places])
        joined = self.pipeline.join([self.groups[group] for group in groups])
        return self.pipeline.select(joined, padded(index, pad_to))

    def keep(self, conditions: Iterable[Condition]) -> None:
        """Drop the groups none of ``conditions`` (those of running searches) is in."""
        used = {self.where[condition][0] for condition in conditions if condition in self.where}
        for group in [group for group in self.groups if group not in used]:
            del self.groups[group], self.sizes[group]
        self.where = {condition: place for condition, place in self.where.items() if place[0] in used}
