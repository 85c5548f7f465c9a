"""Journal records of candidates and their replay: the one schema a candidate line has (Optuna's journal storage).

A resumed run asks its algorithms again and answers from these records; a record whose plan differs from what the
code now proposes is refused rather than replayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..algorithm import Proposal
from ..errors import UsageError
from ..imaging import from_uint8
from ..store.journal import load_artifact
from .state import Evaluation, SearchRun

PLAN_FIELDS = ("parents", "start", "renoise_to", "stochastic", "stop", "gradient", "noise")


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
    }


def candidate_record(search: SearchRun, proposal: Proposal, evaluation: Evaluation) -> dict:
    """The journal line of one evaluated candidate (its tensors go to the artifact the journal names in it)."""
    return {
        "type": "candidate",
        "search": search.task.condition.key,
        "repeat": search.task.repeat,
        "id": proposal.id,
        **plan_of(proposal),
        "scores": evaluation.scores,
        "nfe": evaluation.nfe,
        "replayable": evaluation.replayable,
    }


def replay(search: SearchRun, proposal: Proposal, record: dict, journal_dir: Optional[Path]) -> Evaluation:
    """The evaluation a journal record holds, after checking the proposal's plan against the journaled one."""
    journaled = {name: record.get(name) for name in PLAN_FIELDS}
    current = plan_of(proposal)
    changed = [name for name in PLAN_FIELDS if journaled[name] != current[name]]
    if changed:
        raise ReplayMismatch(
            f"cannot resume: candidate {proposal.id} of search {search.task.condition.key!r} (repeat "
            f"{search.task.repeat}) was journaled with another {', '.join(changed)} than the code now proposes; "
            "the algorithm's code or the run's config changed since the run started: start a new run"
        )
    tensors = load_artifact(journal_dir, record["artifact"]) if journal_dir is not None else {}
    level = tensors.get("earlier_level")
    # journals written before images were stored as 8 bits hold them as float32 under "image"
    image = from_uint8(tensors["image8"]) if "image8" in tensors else tensors.get("image")
    return Evaluation(scores=record["scores"], nfe=record["nfe"], root=tensors["root"], replayable=record["replayable"],
                      x=tensors.get("x"), x0=tensors.get("x0"), image=image, thumb=tensors.get("thumb"),
                      gradient=tensors.get("gradient"), preview=tensors.get("preview"), earlier=tensors.get("earlier"),
                      earlier_level=None if level is None else float(level))
