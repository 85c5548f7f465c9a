"""Successive halving over x0-previews (ours): screen many noises cheaply at intermediate levels, finish the best."""

import math
from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget, top


class Halving(SearchAlgorithm):
    """Successive halving: many noises scored on x0-previews at intermediate levels; only the best are finished."""

    name = "halving"

    @dataclass(frozen=True)
    class Params:
        """``n`` initial noises (default: as many as the budget pays for); ``eta``: keep 1/eta of them at each
        rung; ``rungs``: schedule indices (1 .. steps - 1) where candidates are previewed and pruned (default: the
        middle of the schedule, index steps // 2). Continuing
        a candidate is the same deterministic solve, so every finished sample equals a plain full solve of its
        noise: previews are the only extra cost (one call each; the solve reuses it)."""

        n: Optional[int] = None
        eta: int = 4
        rungs: Optional[list[int]] = None

    @classmethod
    def check(cls, params):
        require(params.n is None or (isinstance(params.n, int) and params.n >= 1), cls.name,
                f"n={params.n!r} must be an integer >= 1 (or unset)")
        require(isinstance(params.eta, int) and params.eta >= 2, cls.name, f"eta={params.eta!r} must be >= 2")
        if params.rungs is None:
            return
        rungs = list(params.rungs)
        require(len(rungs) >= 1 and all(isinstance(i, int) and i >= 1 for i in rungs) and rungs == sorted(set(rungs)),
                cls.name, f"rungs={rungs!r} must be increasing schedule indices >= 1")

    @classmethod
    def rungs(cls, params, context) -> list[int]:
        """The rung indices: as given, or the middle of the schedule."""
        return list(params.rungs) if params.rungs is not None else [max(1, (len(context.sigmas) - 1) // 2)]

    @classmethod
    def sizes(cls, params, n: int, rungs: list[int]) -> list[int]:
        """Candidates alive at each rung and at the end."""
        counts = [n]
        for _ in rungs:
            counts.append(max(1, math.ceil(counts[-1] / params.eta)))
        return counts

    @classmethod
    def total_nfe(cls, params, context, n: int) -> int:
        rungs = cls.rungs(params, context)
        levels = [context.sigmas[i] for i in rungs] + [0.0]
        counts = cls.sizes(params, n, rungs)
        total = counts[0] * context.cost(None, stop=levels[0])
        for count, level, stop in zip(counts[1:], levels, levels[1:]):
            total += count * context.cost(level, stop)
        return total

    @classmethod
    def check_context(cls, params, context):
        interior = len(context.sigmas) - 2
        require(interior >= 1, cls.name, "needs at least 2 denoising steps (model.steps >= 2)")
        require(max(cls.rungs(params, context)) <= interior, cls.name,
                f"rungs={cls.rungs(params, context)} exceed the schedule: indices 1-{interior} at model.steps={interior + 1}")
        require_budget(cls.name, cls.total_nfe(params, context, params.n or 1), context.budget_nfe,
                       f"n={params.n or 1} candidates")

    def __init__(self, params, context):
        super().__init__(params, context)
        n = params.n
        if n is None:
            n = 1
            while self.total_nfe(params, context, n + 1) <= context.budget_nfe:
                n += 1
        rungs = self.rungs(params, context)
        self.counts = self.sizes(params, n, rungs)
        self.levels = [context.sigmas[i] for i in rungs] + [0.0]
        self.rung = 0
        self.alive: list[Outcome] = []
        self.root: dict[int, int] = {}  # each candidate's first ancestor: its noise is that one's

    def ask(self) -> list[Proposal]:
        if self.rung >= len(self.levels):
            return []
        stop = self.levels[self.rung]
        if self.rung == 0:
            self.root = {i: i for i in range(self.counts[0])}
            return [Proposal(i, self.context.fresh_noise(i), stop=stop) for i in range(self.counts[0])]
        base = sum(self.counts[: self.rung])
        proposals = []
        for j, o in enumerate(self.alive):  # a continuation journals its root noise, the one it was drawn from
            self.root[base + j] = self.root[o.id]
            proposals.append(Proposal(base + j, self.context.fresh_noise(self.root[o.id]), (o.id,), start=o.id,
                                      stop=stop))
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        self.rung += 1
        if self.rung < len(self.counts):
            self.alive = top(outcomes, self.counts[self.rung])
