"""Conformance suite for verifiers, shipped for plugin authors: shape, direction, batch invariance, bad input.

Subclass it in your own tests, and pytest reports each property on its own (as Optuna's storage tests)::

    from noisesearch.testing.verifiers import VerifierSuite

    class TestMyVerifier(VerifierSuite):
        def make_verifier(self):
            return MyVerifier("my-spec")

Override ``conditions()`` and ``images()`` when your verifier needs particular inputs. ``check_verifier(verifier,
conditions, images)`` runs the same checks in one call.
"""

from __future__ import annotations

from typing import Sequence

import pytest
import torch

from ..conditions import Condition
from ..errors import UsageError
from ..verifier import Verifier

PROMPTS = ("a red circle", "two blue squares", "a photo of a cat", "a green triangle above a yellow star",
           "three purple hearts", "an empty white canvas")


def sample_images(count: int = 6, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Deterministic test images in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, channels, size, size, generator=generator)


def _scores(verifier: Verifier, images: torch.Tensor, conditions: Sequence[Condition], rows: slice) -> torch.Tensor:
    previews = images.flip(0) if type(verifier).preview_sigma is not None else None
    if previews is None:
        return verifier.score(images[rows], conditions[rows])
    return verifier.score(images[rows], conditions[rows], previews=previews[rows])


def check_declaration(verifier: Verifier) -> None:
    """A name, a declared direction, and a positive preview level where it asks for previews."""
    assert verifier.name, "a verifier needs a name"
    assert isinstance(type(verifier).higher_is_better, bool), "higher_is_better must be a bool"
    if type(verifier).preview_sigma is not None:
        assert type(verifier).preview_sigma > 0, "preview_sigma must be a positive noise level"


def check_scores(verifier: Verifier, conditions: Sequence[Condition], images: torch.Tensor) -> None:
    """One finite float per image."""
    with torch.inference_mode():
        scores = _scores(verifier, images, conditions, slice(None))
    assert scores.shape == (images.shape[0],), f"expected {images.shape[0]} scores, got shape {tuple(scores.shape)}"
    assert torch.isfinite(scores).all(), "scores of valid images must be finite"


def check_batch_invariant(verifier: Verifier, conditions: Sequence[Condition], images: torch.Tensor) -> None:
    """The same scores whether images come together or one at a time."""
    with torch.inference_mode():
        together = _scores(verifier, images, conditions, slice(None))
        alone = torch.cat([_scores(verifier, images, conditions, slice(i, i + 1)) for i in range(len(conditions))])
    assert torch.allclose(together, alone, atol=1e-5, rtol=1e-4), "scores depend on the batch"


def check_condition_kinds(verifier: Verifier) -> None:
    """``check_conditions`` refuses the kinds of condition the verifier does not judge."""
    for kind in ("class", "prompt"):
        if kind in type(verifier).condition_kinds:
            continue
        with pytest.raises(UsageError):
            type(verifier).check_conditions(kind)


def check_verifier(verifier: Verifier, conditions: Sequence[Condition], images: torch.Tensor) -> None:
    """One finite float per image, a declared direction, and the same scores whatever the batch split."""
    check_declaration(verifier)
    check_scores(verifier, conditions, images)
    check_batch_invariant(verifier, conditions, images)
    check_condition_kinds(verifier)


class VerifierSuite:
    """The conformance suite as a pytest class: subclass it as ``TestSomething`` and implement ``make_verifier``."""

    def make_verifier(self) -> Verifier:
        raise NotImplementedError("implement make_verifier() to return the verifier under test")

    def conditions(self, verifier: Verifier) -> Sequence[Condition]:
        """Six conditions of a kind the verifier judges (class labels 0-5, or six prompts)."""
        if "class" in type(verifier).condition_kinds:
            return [Condition(class_label=i) for i in range(6)]
        return [Condition(prompt=prompt) for prompt in PROMPTS]

    def images(self, verifier: Verifier, count: int) -> torch.Tensor:
        return sample_images(count)

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls) -> tuple[Verifier, Sequence[Condition], torch.Tensor]:
        """The verifier, its conditions and images, made once per class."""
        suite = cls()
        verifier = suite.make_verifier()
        conditions = suite.conditions(verifier)
        return verifier, conditions, suite.images(verifier, len(conditions))

    def test_declares_its_name_and_direction(self, loaded):
        check_declaration(loaded[0])

    def test_gives_one_finite_score_per_image(self, loaded):
        check_scores(*loaded)

    def test_scores_do_not_depend_on_the_batch(self, loaded):
        check_batch_invariant(*loaded)

    def test_refuses_conditions_it_does_not_judge(self, loaded):
        check_condition_kinds(loaded[0])

