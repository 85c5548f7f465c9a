"""The ask/tell protocol of search algorithms: f(V, model, budget) -> best noise (Ma et al. 2025, section 3).

Algorithms never run a model: ``ask()`` proposes candidates, the executor denoises and scores them, ``tell()``
hands back the scores. This separation (nevergrad's ask/tell) keeps NFE accounting and batching in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from .errors import UsageError
from .noise import NoiseSpec, derive_seed


@dataclass(frozen=True)
class Proposal:
    """A candidate to evaluate: its id within the search, the ids it came from, and its initial noise."""

    id: int
    noise: NoiseSpec
    parents: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What the executor tells an algorithm about one evaluated proposal (higher ``score`` is better)."""

    id: int
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
    nfe: int = 0


@dataclass(frozen=True)
class SearchContext:
    """What an algorithm may know about its search: identity, seed and budget, never the model."""

    seed: int
    condition_key: str
    repeat: int
    budget_nfe: int
    sample_nfe: int

    def fresh_noise(self, candidate_id: int) -> NoiseSpec:
        """The i.i.d. Gaussian noise of candidate ``candidate_id``: a function of seed and identity only."""
        return NoiseSpec((derive_seed(self.seed, self.condition_key, self.repeat, candidate_id),))

    @property
    def max_samples(self) -> int:
        """How many full solves the budget pays for."""
        return self.budget_nfe // self.sample_nfe


class SearchAlgorithm:
    """Base class of algorithm plugins; hyperparameters are the fields of the nested ``Params`` dataclass."""

    name: ClassVar[str]

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
            raise UsageError(
                f"model.budget_nfe={budget_nfe} is below one sample ({sample_nfe} NFEs at these steps, sampler and "
                f"guidance); raise it to at least {sample_nfe}"
            )

    def ask(self) -> list[Proposal]:
        """Proposals to evaluate now; an empty list means the search is over."""
        raise NotImplementedError

    def tell(self, outcomes: list[Outcome]) -> None:
        """Scores of the proposals of the last ``ask``, in the same order."""
        raise NotImplementedError
