"""Beam search over injected noise (Ramesh & Mardani, arXiv 2506.03164): branch with ancestral steps at chosen
levels, keep the beam by lookahead x0-previews."""

from dataclasses import dataclass
from typing import Optional

from noisesearch.plugin import Outcome, Proposal, SearchAlgorithm

from .common import require, require_budget, top


class BeamSearch(SearchAlgorithm):
    """Beam search: ``width`` states, ``branch`` ancestral-noise branches each at chosen levels, lookahead previews."""

    name = "beam"

    @dataclass(frozen=True)
    class Params:
        """``width`` states kept, ``branch`` children per state at each chosen level; ``levels``: indices into the
        noise schedule (1 .. steps - 2) where noise is injected (default: every interior level but the last). The
        first round draws width * branch initial noises; the last round finishes each state once to level 0. No
        branch ends at the last interior level: the ancestral step into it injects almost no noise (sigma 0.002
        on shapes, about one grey level), so its branches would be near-copies and their NFEs bought nothing."""

        width: int = 2
        branch: int = 4
        levels: Optional[list[int]] = None

    @classmethod
    def check(cls, params):
        require(isinstance(params.width, int) and params.width >= 1, cls.name, f"width={params.width!r} must be >= 1")
        require(isinstance(params.branch, int) and params.branch >= 1, cls.name,
                f"branch={params.branch!r} must be >= 1")
        if params.levels is not None:
            require(len(params.levels) >= 1 and all(isinstance(i, int) and i >= 1 for i in params.levels), cls.name,
                    f"levels={params.levels!r} must be schedule indices >= 1")
            require(list(params.levels) == sorted(set(params.levels)), cls.name, "levels must be increasing")

    @classmethod
    def stops(cls, params, context) -> list[float]:
        """Noise levels at which the beam is pruned, ending with 0."""
        last = len(context.sigmas) - 3  # the last index a branch may end at: not the last interior level
        levels = params.levels if params.levels is not None else list(range(1, last + 1))
        require(all(i <= last for i in levels), cls.name,
                f"levels={levels}: at model.steps={last + 2} branches may end at indices 1-{last}; the last interior "
                "level is left out (its ancestral step injects almost no noise: branches would be near-copies)")
        return [context.sigmas[i] for i in levels] + [0.0]

    @staticmethod
    def branches(params, stop: float) -> int:
        """Children per beam state in a round ending at ``stop``: one for the step to level 0, which adds no noise."""
        return 1 if stop == 0.0 else params.branch

    @classmethod
    def total_nfe(cls, params, context) -> int:
        stops = cls.stops(params, context)
        total = params.width * params.branch * context.cost(None, stop=stops[0])
        for level, stop in zip(stops, stops[1:]):
            total += params.width * cls.branches(params, stop) * context.cost(level, stop, stochastic=True)
        return total

    @classmethod
    def check_context(cls, params, context):
        require(len(context.sigmas) >= 4, cls.name, "needs at least 3 denoising steps (model.steps >= 3)")
        require_budget(cls.name, cls.total_nfe(params, context), context.budget_nfe,
                       f"width={params.width}, branch={params.branch}")

    def __init__(self, params, context):
        super().__init__(params, context)
        self.levels = self.stops(params, context)
        self.round = 0
        self.next_id = 0
        self.beam: list[Outcome] = []

    def ask(self) -> list[Proposal]:
        if self.round >= len(self.levels):
            return []
        stop = self.levels[self.round]
        branch = self.branches(self.params, stop)
        proposals = []
        for i in range(self.params.width * branch):  # the beam holds `width` states after the first round
            noise = self.context.fresh_noise(self.next_id)
            if self.round == 0:
                proposals.append(Proposal(self.next_id, noise, stop=stop))
            else:
                parent = self.beam[i // branch].id
                proposals.append(Proposal(self.next_id, noise, (parent,), start=parent, stochastic=True, stop=stop))
            self.next_id += 1
        return proposals

    def tell(self, outcomes: list[Outcome]) -> None:
        self.beam = top(outcomes, self.params.width)
        self.round += 1
