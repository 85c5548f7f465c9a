"""Whole-pipeline mode as a capability a pipeline offers: it turns initial noises into images in one call.

A pipeline class with ``whole = True`` implements ``generate``; the engine then refuses, before evaluating
anything, proposals that need what only a denoiser offers (partial solves, re-noising, stochastic steps, gradients,
previews). The pipeline names its alternative in ``other_mode_hint``.
"""

from __future__ import annotations

from typing import Sequence

from ..algorithm import Proposal, SearchAlgorithm
from ..errors import UsageError
from ..pipeline import Family
from ..verifier import Verifier

def initial_noise_algorithms() -> str:
    """The registered algorithms that propose only fresh noises solved to the end (what whole mode can run)."""
    from .. import registry

    names = sorted(name for name, entry in registry.index()["algorithms"].items() if entry.cls.initial_noises_only)
    if len(names) < 2:
        return names[0] if names else "none"
    return f"{', '.join(names[:-1])} or {names[-1]}"


def runs_whole(family: Family) -> bool:
    """Whether a family runs whole from initial noises (``generate``) instead of a denoiser per step."""
    return bool(family.whole)


def check_search(family: Family, algorithm: type[SearchAlgorithm], verifiers: Sequence[Verifier]) -> None:
    """Refuse a search whole-pipeline mode cannot run: gradients through the sampler, or x0-previews."""
    name, hint = family.display_name(), family.other_mode_hint
    if algorithm.uses_gradients:
        raise UsageError(f"algorithm {algorithm.name!r} needs gradients through the sampler, which whole-pipeline "
                         f"mode ({name}) does not offer; use {initial_noise_algorithms()}{hint}")
    previewing = [v.name for v in verifiers if type(v).preview_sigma is not None]
    if previewing:
        raise UsageError(f"verifier {previewing[0]!r} needs x0-previews, which whole-pipeline mode ({name}) does not "
                         f"offer; choose a verifier of final images{hint}")


def check_proposal(family: Family, algorithm: str, proposal: Proposal) -> None:
    """Refuse a proposal that is not a fresh noise solved to the end."""
    needs = [what for what, used in (
        ("partial solves", proposal.start is not None or proposal.stop > 0),
        ("re-noising", proposal.renoise_to is not None), ("stochastic steps", proposal.stochastic),
        ("gradients", proposal.gradient)) if used]
    if needs:
        raise UsageError(f"algorithm {algorithm!r} needs {' and '.join(needs)}, which whole-pipeline mode "
                         f"({family.display_name()}) does not offer: it runs the pipeline from initial noises only; "
                         f"use {initial_noise_algorithms()}{family.other_mode_hint}")
