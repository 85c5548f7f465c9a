"""A cohort's journal as the loop sees it: evaluations replayed from its records (resume), and each round's new
candidates recorded (records, and as artifacts their root noise, kept states and images; thumbnails where the
journal keeps tensors), written by the loop's writer in the background or inline."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import torch

from ..algorithm import Proposal
from ..store.records import BASELINE, CandidateRecord
from .replay import Replay, candidate_record, replay
from .state import Evaluated, SearchRun
from .transfer import copies_done


class Recorder:
    """Replays and journals one cohort's candidates; ``keep_images`` K keeps the images of the candidates fewer
    than K earlier ones of their search beat on every verifier (such a candidate can never be chosen: any monotone
    ensemble ranks it below each of them, so resume stays exact)."""

    def __init__(self, journal, replay_records: Optional[Replay] = None, keep_images: Optional[int] = None):
        self.journal = journal
        self.replay = replay_records or {}
        self.keep_images = keep_images

    @property
    def keeps_tensors(self) -> bool:
        return self.journal.keeps_tensors

    def replayed(self, search: SearchRun, proposal: Proposal) -> Optional[Evaluated]:
        """The journaled evaluation of a proposal (its plan checked), or None when it was never journaled."""
        record = self.replay.get((*search.key, proposal.id))
        return None if record is None else replay(search, proposal, record, self.journal.directory)

    def job(self, evaluated: list[tuple[SearchRun, Proposal, Evaluated]], device: torch.device) -> Callable[[], int]:
        """The writer's job for one round: wait for its rows' copies, then append its records (and tensors)."""
        records = [candidate_record(search, proposal, evaluation) for search, proposal, evaluation in evaluated]
        tensors = None
        if self.keeps_tensors:
            kept = self._images_to_keep([(search, evaluation) for search, _, evaluation in evaluated])
            kept = [keep or (proposal.id == BASELINE and evaluation.image is not None)  # the judge reads it
                    for keep, (_, proposal, evaluation) in zip(kept, evaluated)]
            # a copy per row that holds the image only where it is kept: the loop lets go of its own reference
            tensors = [(dataclasses.replace(evaluation, image=evaluation.image if keep else None), keep)
                       for (_, _, evaluation), keep in zip(evaluated, kept)]
        return functools.partial(_append, self.journal, records, tensors, copies_done(device))

    def _images_to_keep(self, evaluated: list[tuple[SearchRun, Evaluated]]) -> list[bool]:
        if self.keep_images is None:
            return [True] * len(evaluated)
        seen: dict[tuple, list[dict[str, float]]] = {}
        kept = []
        for search, evaluation in evaluated:
            if evaluation.image is None:
                kept.append(False)
                continue
            earlier = seen.setdefault(search.key, [row for _, row in search.levels.get(0.0, [])])
            row = search.scorer.oriented(evaluation.scores)
            beaten_by = sum(all(other[name] > value for name, value in row.items()) for other in earlier)
            kept.append(beaten_by < self.keep_images)
            earlier.append(row)
        return kept


def by_recorder(pending: list[tuple[SearchRun, Proposal]], computed: dict[int, Evaluated]) -> dict[Recorder, list]:
    """A round's computed evaluations (by their place in ``pending``) by the journal they go to, in round order."""
    grouped: dict[Recorder, list] = {}
    for i in sorted(computed):
        search, proposal = pending[i]
        grouped.setdefault(search.recorder, []).append((search, proposal, computed[i]))
    return grouped


def _append(journal, records: list[CandidateRecord], evaluated: Optional[list[tuple[Evaluated, bool]]],
            ready: Optional["torch.cuda.Event"]) -> int:
    """Wait for the rows' copies, then journal the records and their tensors durably."""
    if ready is not None:
        ready.synchronize()
    journal.append(records, None if evaluated is None else
                   [evaluation.tensors(keep) for evaluation, keep in evaluated])
    return len(records)
