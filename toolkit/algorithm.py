"""The ask/tell protocol of search algorithms: f(V, model, budget) -> best noise (Ma et al. 2025, section 3).

Algorithms never run a model: ``ask()`` proposes candidates, the executor denoises and scores them, ``tell()``
hands back the scores. This separation (nevergrad's ask/tell) keeps NFE accounting and batching in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional

import torch

from .errors import BudgetError, UsageError
from .sampling.denoiser import BACKWARD_COST
from .noise import NoiseSpec, derive_seed
from .sampling.samplers import sampler_class
from .sampling.schedule import sigmas_between

GRADIENT_COST = 1 + BACKWARD_COST  # NFEs of a forward and a backward pass, per forward evaluation


@dataclass(frozen=True)
class Proposal:
    """A candidate to evaluate.

    Fresh (``start`` is None): ``noise`` is its initial noise, solved from the top of the schedule. Continued:
    it starts from the kept state of candidate ``start``; ``renoise_to`` first noises that state forward to a
    higher level with ``noise`` (search over paths), or ``stochastic`` takes the first step as an ancestral step
    with ``noise`` (SMC, beam). It is solved down to ``stop``; above 0 its state is kept and it is scored on
    its x0-prediction there, unless ``scored`` is False (a state the algorithm will not weigh: its x0-preview is
    neither decoded nor scored, and its outcome's score is NaN). ``gradient`` (fresh, stop 0) also returns
    d score / d noise.
    """

    id: int
    noise: NoiseSpec
    parents: tuple[int, ...] = ()
    start: Optional[int] = None
    renoise_to: Optional[float] = None
    stochastic: bool = False
    stop: float = 0.0
    gradient: bool = False
    scored: bool = True

    @property
    def injects_noise(self) -> bool:
        """Whether ``noise`` enters on the way (re-noising, a stochastic step): the sample no longer follows from
        its root noise alone."""
        return self.renoise_to is not None or self.stochastic

    @property
    def uses_noise(self) -> bool:
        """Whether ``noise`` is used at all: as the initial noise of a fresh solve, or injected on the way."""
        return self.start is None or self.injects_noise

    @property
    def is_fresh(self) -> bool:
        """A plain draw: ``noise`` solved deterministically from the top (its root noise is ``noise`` itself)."""
        return self.start is None and not self.injects_noise


@dataclass(frozen=True)
class Outcome:
    """What the executor tells an algorithm about one evaluated proposal (higher ``score`` is better).

    ``score`` aggregates the verifiers among candidates at the same ``level`` (0 for finished samples).
    """

    id: int
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
    nfe: int = 0
    level: float = 0.0
    gradient: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class SearchContext:
    """What an algorithm may know about its search: identity, seed, budget and schedule, never the model."""

    seed: int
    condition_key: str
    repeat: int
    budget_nfe: int
    sample_nfe: int
    sigmas: tuple[float, ...] = ()
    sampler: str = "heun"
    nfe_per_call: int = 1
    shape: tuple[int, ...] = ()
    round_size: Optional[int] = None  # ``model.budget_seconds``: fresh candidates an anytime algorithm asks a round

    def fresh_noise(self, candidate_id: Any) -> NoiseSpec:
        """The i.i.d. Gaussian noise of candidate ``candidate_id``: a function of seed and identity only."""
        return NoiseSpec.fresh(self.derive_seed(candidate_id))

    def derive_seed(self, *parts: Any) -> int:
        """A seed for any random choice of this search (resampling, mutation), from its identity only."""
        return derive_seed(self.seed, self.condition_key, self.repeat, *parts)

    @property
    def max_samples(self) -> int:
        """How many full solves the budget pays for."""
        return self.budget_nfe // self.sample_nfe

    def cost(self, start_level: Optional[float], stop: float = 0.0, renoise_to: Optional[float] = None,
             stochastic: bool = False, gradient: bool = False) -> int:
        """NFEs of one proposal: from the top (``start_level`` None) or a kept state at ``start_level``."""
        schedule = torch.tensor(self.sigmas)
        top = self.sigmas[0] if start_level is None else (renoise_to or start_level)
        segment = sigmas_between(schedule, top, stop)
        sampler = sampler_class(self.sampler)
        calls = sampler.calls(segment)
        if stochastic:
            calls = 1 + sampler.calls(segment[1:])
        if start_level is not None and renoise_to is None:
            calls -= 1  # the kept state's x0-prediction at its level is reused
        if stop > 0:
            calls += 1  # the x0-preview at the stop level
        calls *= self.nfe_per_call
        return calls * GRADIENT_COST if gradient else calls


class SearchAlgorithm:
    """Base class of algorithm plugins; hyperparameters are the fields of the nested ``Params`` dataclass."""

    name: ClassVar[str]
    uses_gradients: ClassVar[bool] = False
    initial_noises_only: ClassVar[bool] = False  # proposes fresh noises solved to the end, nothing else
    uses_budget: ClassVar[bool] = True  # False: spends a fixed amount by design (no search), never the budget
    anytime: ClassVar[bool] = False  # its rounds do not depend on budget_nfe: stopping after any round gives what a
    # run with the NFEs spent as its budget gives, so ``model.budget_seconds`` can stop it (Flash-BoN's clock)

    @dataclass(frozen=True)
    class Params:
        pass

    def __init__(self, params: "SearchAlgorithm.Params", context: SearchContext):
        self.params = params
        self.context = context

    @classmethod
    def parse_params(cls, args: Mapping[str, Any] | None) -> "SearchAlgorithm.Params":
        """Build ``Params`` from ``model.algorithm_args``; unknown keys and bad values raise a UsageError."""
        args = dict(args or {})
        known = {f.name: f for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise UsageError(
                f"algorithm {cls.name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
                f"its hyperparameters: {', '.join(known) or '(none)'}"
            )
        try:
            params = cls.Params(**args)
        except (TypeError, ValueError) as error:
            raise UsageError(f"algorithm {cls.name!r}: {error}") from None
        cls.check(params)
        return params

    @classmethod
    def check(cls, params: "SearchAlgorithm.Params") -> None:
        """Raise a UsageError for hyperparameters that make no sense."""

    @classmethod
    def check_budget(cls, params: "SearchAlgorithm.Params", budget_nfe: int, sample_nfe: int) -> None:
        """Raise a UsageError if the budget cannot pay for one round of this algorithm."""
        if budget_nfe < sample_nfe:
            raise BudgetError(
                f"model.budget_nfe={budget_nfe} is below one sample ({sample_nfe} NFEs at these steps, sampler and "
                f"guidance); raise it to at least {sample_nfe}"
            )

    @classmethod
    def check_clock(cls, params: "SearchAlgorithm.Params") -> None:
        """Raise a UsageError when ``model.budget_seconds`` cannot stop this anytime search: its hyperparameters
        fix how much it spends."""

    @classmethod
    def check_context(cls, params: "SearchAlgorithm.Params", context: SearchContext) -> None:
        """Raise a UsageError when the model's schedule and the budget cannot carry the search (after loading)."""

    def ask(self) -> list[Proposal]:
        """Proposals to evaluate now; an empty list means the search is over."""
        raise NotImplementedError

    def tell(self, outcomes: list[Outcome]) -> None:
        """Scores of the proposals of the last ``ask``, in the same order."""
        raise NotImplementedError

    def trace(self) -> Optional[dict]:
        """What the search did that its candidates do not show (JSON-able; SMC: ESS and survivors per level),
        kept in its result record; None when there is nothing to add."""
        return None
