"""Conformance suite for search algorithms, shipped for plugin authors.

Subclass it in your own tests, and pytest reports each property on its own (as Optuna's storage tests)::

    from noisesearch.testing.algorithms import AlgorithmSuite

    class TestMyAlgorithm(AlgorithmSuite):
        algorithm = MyAlgorithm
        args = {"k": 4}

``check_algorithm(MyAlgorithm, {"k": 4})`` runs the same checks in one call. Every check runs real searches on exact
toy denoisers, so it takes seconds.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Optional, Sequence

import pytest
import torch

from ..algorithm import SearchAlgorithm
from ..verifier import Verifier
from ..conditions import Condition
from ..errors import UsageError
from ..engine import Executor, RoundLimit, SearchResult, SearchSettings, Task
from .toys import ToyMixture, ToyPromptMixture, ToyVerifier

CLASS_TASKS = [Task(i, Condition(class_label=c), r) for i, (c, r) in enumerate([(0, 0), (1, 0), (1, 1), (3, 0)])]
PROMPT_TASKS = [Task(i, Condition(prompt=p), 0) for i, p in enumerate(["a red circle", "two blue squares"])]


def run(
    algorithm: type[SearchAlgorithm],
    args: Optional[Mapping[str, Any]] = None,
    *,
    budget_nfe: int = 7 * 16,
    batch_size: int = 8,
    seed: int = 0,
    tasks: Sequence[Task] = CLASS_TASKS,
    steps: int = 4,
    verifier: Optional[Verifier] = None,
    rounds: Optional[int] = None,
) -> tuple[list[SearchResult], Executor]:
    """Run ``algorithm`` on the toy world of the tasks' kind (scored by ``verifier``, by default the toy's);
    with ``rounds``, under a clock spent after that many rounds; returns the results and the executor."""
    pipeline = ToyMixture() if tasks[0].condition.kind == "class" else ToyPromptMixture()
    params = algorithm.parse_params(args)
    settings = SearchSettings(algorithm, params, budget_nfe, steps, "heun", 1.0, batch_size, 8, 8, seed,
                              budget_seconds=None if rounds is None else 1e9)
    algorithm.check_budget(params, budget_nfe, settings.sample_nfe(type(pipeline)))
    executor = Executor(pipeline, [verifier or ToyVerifier()], settings)  # runs check_context
    if rounds is not None:  # a clock that never runs out (rounds sized for it), and a stopper after ``rounds``
        executor.stoppers.append(RoundLimit(rounds))
    with torch.no_grad():
        return executor.run(tasks), executor


def check_budget(algorithm, args=None) -> None:
    """Never exceeds ``budget_nfe``; ``nfe_used`` equals the denoiser evaluations actually made."""
    ran = 0
    for budget in (7 * 4, 7 * 16 + 3, 7 * 40 + 5):
        try:
            results, executor = run(algorithm, args, budget_nfe=budget)
        except UsageError:
            continue  # a budget too small for one round is refused up front, which is allowed
        ran += 1
        assert all(r.nfe <= budget for r in results), "a search spent more than its budget"
        assert sum(r.nfe for r in results) == executor.stats.nfe, "per-search NFEs disagree with the counter"
    assert ran >= 2, "the algorithm refused most budgets of the suite; pick hyperparameters that fit 115 NFEs"


def check_deterministic(algorithm, args=None) -> None:
    """The same seed gives the same choice, noise and image; another seed changes something."""
    first, _ = run(algorithm, args, seed=3)
    second, _ = run(algorithm, args, seed=3)
    for a, b in zip(first, second, strict=True):
        assert a.candidate == b.candidate and torch.equal(a.noise, b.noise) and torch.equal(a.image, b.image)
    other, _ = run(algorithm, args, seed=4)
    assert any(not torch.equal(a.noise, b.noise) for a, b in zip(first, other, strict=True)), "the seed changes nothing"


def check_batch_invariant(algorithm, args=None) -> None:
    """``batch_size`` 1 and 32 give the same choices, and noises, images and scores to float precision.

    Seeded noises are bit-identical; noises computed from scores (gradient ascent) agree to 1e-4.
    """
    small, _ = run(algorithm, args, batch_size=1)
    large, _ = run(algorithm, args, batch_size=32)
    for a, b in zip(small, large, strict=True):
        assert a.candidate == b.candidate and torch.allclose(a.noise, b.noise, atol=1e-4)
        assert torch.allclose(a.image, b.image, atol=1e-5) and a.scores == pytest.approx(b.scores, abs=1e-5)
        assert a.nfe == b.nfe and a.candidates == b.candidates


def check_condition_kinds(algorithm, args=None) -> None:
    """Works for class- and text-conditional models and several conditions in one run."""
    for tasks in (CLASS_TASKS, PROMPT_TASKS):
        results, _ = run(algorithm, args, tasks=tasks)
        assert [r.task for r in results] == list(tasks)
        assert all(r.candidates >= 1 and torch.isfinite(r.image).all() for r in results)


def check_refuses_tiny_budget(algorithm, args=None) -> None:
    """A budget below one sample is refused with a UsageError before anything runs."""
    with pytest.raises(UsageError):
        run(algorithm, args, budget_nfe=6)


def check_anytime(algorithm, args=None) -> None:
    """An ``anytime`` algorithm stopped by the clock after any round gives, search by search, what a run with the
    NFEs it reached as ``budget_nfe`` gives (the promise ``model.budget_seconds`` keeps through its NFE record)."""
    if not algorithm.anytime:
        return
    try:
        algorithm.check_clock(algorithm.parse_params(args))
    except UsageError:
        return  # hyperparameters that fix the spending refuse a clock up front, which is allowed
    for rounds in (1, 2, 3):
        stopped, _ = run(algorithm, args, budget_nfe=7 * 40 + 5, rounds=rounds)
        for result in stopped:
            (again,) = run(algorithm, args, budget_nfe=result.nfe, tasks=[result.task])[0]
            assert (again.candidate, again.nfe, again.candidates) == \
                (result.candidate, result.nfe, result.candidates), \
                f"stopped after round {rounds}, the search differs from a run with its NFEs as budget"
            assert torch.equal(again.noise, result.noise) and torch.equal(again.image, result.image)


CHECKS = (check_budget, check_deterministic, check_batch_invariant, check_condition_kinds, check_refuses_tiny_budget,
          check_anytime)


def check_algorithm(algorithm: type[SearchAlgorithm], args: Optional[Mapping[str, Any]] = None) -> None:
    """Run every check of the suite."""
    for check in CHECKS:
        check(algorithm, args)


class AlgorithmSuite:
    """The conformance suite as a pytest class: subclass it as ``TestSomething`` and set ``algorithm`` (and ``args``)."""

    algorithm: ClassVar[type[SearchAlgorithm]]
    args: ClassVar[Optional[Mapping[str, Any]]] = None

    def test_stays_within_its_budget(self):
        check_budget(self.algorithm, self.args)

    def test_is_deterministic(self):
        check_deterministic(self.algorithm, self.args)

    def test_does_not_depend_on_the_batch_size(self):
        check_batch_invariant(self.algorithm, self.args)

    def test_takes_class_and_prompt_conditions(self):
        check_condition_kinds(self.algorithm, self.args)

    def test_refuses_a_budget_below_one_sample(self):
        check_refuses_tiny_budget(self.algorithm, self.args)

    def test_stopped_by_the_clock_is_its_nfes_as_budget(self):
        check_anytime(self.algorithm, self.args)
