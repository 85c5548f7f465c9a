"""Journal records of candidates and their replay: the one schema a candidate line has (Optuna's journal storage).

A resumed run asks its algorithms again and answers from these records; a record whose plan differs from what the
code now proposes is refused rather than replayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..algorithm import Proposal
from ..errors import UsageError
from ..store.journal import load_artifact
from ..store.records import (EARLIER, EARLIER_LEVEL, GRADIENT, PLAN_FIELDS, PREVIEW, ROOT, THUMB, X, X0,
                             CandidateRecord, image_of)
from .state import Evaluated, SearchRun


Replay = dict[tuple, CandidateRecord]  # journaled candidate records by (search, repeat, id)


class ReplayMismatch(UsageError):
    """A journaled candidate differs from what the code now proposes: the run cannot be resumed."""


def plan_of(proposal: Proposal) -> dict:
    """The journaled description of how a proposal is made, compared on replay."""
    return {
        "parents": list(proposal.parents),
        "start": proposal.start,
        "renoise_to": proposal.renoise_to,
        "stochastic": proposal.stochastic,
        "stop": proposal.stop,
        "gradient": proposal.gradient,
        "noise": proposal.noise.as_dict(),
        "scored": proposal.scored,
    }


def candidate_record(search: SearchRun, proposal: Proposal, evaluation: Evaluated) -> CandidateRecord:
    """The journal record of one evaluated candidate (its tensors go to the artifact the journal names in it)."""
    return CandidateRecord(search=search.task.condition.key, repeat=search.task.repeat, id=proposal.id,
                           scores=evaluation.scores, nfe=evaluation.nfe, replayable=evaluation.replayable,
                           parents=tuple(proposal.parents), start=proposal.start, renoise_to=proposal.renoise_to,
                           stochastic=proposal.stochastic, stop=proposal.stop, gradient=proposal.gradient,
                           noise=proposal.noise.as_dict(), scored=proposal.scored)


def replay(search: SearchRun, proposal: Proposal, record: CandidateRecord, journal_dir: Optional[Path]) -> Evaluated:
    """The evaluation a journal record holds, after checking the proposal's plan against the journaled one."""
    journaled, current = record.plan(), plan_of(proposal)
    changed = [name for name in PLAN_FIELDS if journaled[name] != current[name]]
    if changed:
        raise ReplayMismatch(
            f"cannot resume: candidate {proposal.id} of search {search.task.condition.key!r} (repeat "
            f"{search.task.repeat}) was journaled with another {', '.join(changed)} than the code now proposes; "
            "the algorithm's code or the run's config changed since the run started: start a new run"
        )
    tensors = load_artifact(journal_dir, record.artifact) if journal_dir is not None else {}
    level = tensors.get(EARLIER_LEVEL)
    return Evaluated(scores=record.scores, nfe=record.nfe, root=tensors[ROOT], replayable=record.replayable,
                      x=tensors.get(X), x0=tensors.get(X0), image=image_of(tensors), thumb=tensors.get(THUMB),
                      gradient=tensors.get(GRADIENT), preview=tensors.get(PREVIEW), earlier=tensors.get(EARLIER),
                      earlier_level=None if level is None else float(level) if level.dim() == 0 else
                      tuple(level.tolist()))
