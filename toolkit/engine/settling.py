"""Settling a round's evaluations: the journaled ones replayed, the new ones journaled (by the loop's writer); each
integrated into its search, after which the evaluation lets go of its image (a finished candidate's image lives on
in its search while it can be chosen), so a round of clips never sits in memory beside the chunk being made."""

from __future__ import annotations

from .journaling import by_recorder
from .state import Evaluated, SearchRun

Pending = list  # the round's (search, proposal) pairs; evaluations are keyed by their place in it


def replayed(pending: Pending, progress) -> dict[int, Evaluated]:
    """The pending proposals their journals hold (resume), by place, counted as evaluated."""
    found: dict[int, Evaluated] = {}
    for i, (search, proposal) in enumerate(pending):
        evaluation = search.recorder.replayed(search, proposal)
        if evaluation is not None:
            found[i] = evaluation
            progress.evaluated += search.costs[proposal.id]
            search.count_evaluated(proposal.id)
    return found


def journal(pending: Pending, evaluations: dict[int, Evaluated], writer, device) -> None:
    """Hand the evaluations to the writer, a job per journal, in round order."""
    for recorder, members in by_recorder(pending, evaluations).items():
        writer.submit(recorder.job(members, device))


def integrate(pending: Pending, evaluations: dict[int, Evaluated], pipeline) -> None:
    """Integrate the evaluations into their searches, then drop their own references to the images."""
    device, dtype = pipeline.placement()
    for i, evaluation in evaluations.items():
        search: SearchRun
        search, proposal = pending[i]
        search.integrate(proposal, evaluation, device, dtype)
        evaluation.image = None


def settle(pending: Pending, evaluations: dict[int, Evaluated], writer, pipeline) -> None:
    """Journal, then integrate (the journal's job keeps its own reference to each image it writes)."""
    journal(pending, evaluations, writer, pipeline.placement()[0])
    integrate(pending, evaluations, pipeline)
