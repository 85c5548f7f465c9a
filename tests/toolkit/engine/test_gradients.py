"""Gradient search scores through the shared scorer: the ensemble's weights shape the gradient it ascends."""

import torch

from noisesearch.conditions import Condition
from noisesearch.engine import Cohort, Executor, Fixed, SearchSettings, Task
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms import GradientAscent


class Farther(ToyVerifier):
    """The opposite of toy-closeness: a verifier whose gradient points the other way."""

    name = "toy-farness"

    def score(self, images, conditions):
        return -super().score(images, conditions)


def search(verifiers, ensemble="rank", weights=None):
    params = GradientAscent.parse_params({"iterations": 3, "lr": 2.0})
    settings = SearchSettings(GradientAscent, params, 4 * 7 * 3 + 7, 4, "heun", 1.0, 8, 8, 8, 0, ensemble, weights)
    executor = Executor(ToyMixture(), verifiers, settings)
    cohort = Cohort([Task(0, Condition(class_label=2), 0)])
    with torch.no_grad():
        executor.drive(Fixed(cohort))
    executor.cohort = cohort
    return cohort.results[0], executor


def test_a_zero_weight_verifier_does_not_steer_the_gradient():
    alone, _ = search([ToyVerifier()])
    weighted, executor = search([ToyVerifier(), Farther()], "weighted", (1.0, 0.0))
    assert torch.equal(weighted.image, alone.image) and weighted.candidate == alone.candidate
    assert set(executor.stats.verifier_s) == {"toy-closeness", "toy-farness"}
    assert all(seconds > 0 for seconds in executor.stats.verifier_s.values())


def test_equal_weights_of_opposite_verifiers_cancel_the_gradient():
    """Mean of oriented scores: closeness and farness cancel, so the noise never moves: every iterate's noise is
    the first one (an objective that ascended only the first verifier would move it, as the steered run does)."""
    cancelled, cancelled_run = search([ToyVerifier(), Farther()], "weighted", (1.0, 1.0))
    steered, steered_run = search([ToyVerifier(), Farther()], "weighted", (1.0, 0.0))

    def last_noise(executor):  # the last iterate's noise
        finished = executor.cohort.searches[0].finished
        return finished[max(finished)].root

    # the verifiers' gradients cancel: only the noise-norm regulariser moves the noise, not the first verifier's
    # gradient (an objective that ascended the first verifier alone would end where the steered run ends)
    assert not torch.allclose(last_noise(cancelled_run), last_noise(steered_run), atol=1e-3)
    assert cancelled.candidate == 0 and steered.candidate > 0


class Stop(Exception):
    pass


class ElsewhereVerifier(ToyVerifier):
    """A verifier whose weights live on another device than the pipeline's (meta stands in for a second GPU): it
    records where its images arrive, then stops the search."""

    name = "elsewhere"
    seen: list = []

    def __init__(self, spec=None):
        super().__init__(spec)
        self.weight = torch.nn.Parameter(torch.zeros(1, device="meta"))

    def score(self, images, conditions):
        ElsewhereVerifier.seen.append(images.device.type)
        raise Stop


def test_the_gradient_path_hands_images_to_the_verifiers_device():
    ElsewhereVerifier.seen.clear()
    params = GradientAscent.parse_params({"iterations": 1})
    settings = SearchSettings(GradientAscent, params, 4 * 7, 4, "heun", 1.0, 8, 8, 8, 0)
    executor = Executor(ToyMixture(), [ElsewhereVerifier()], settings)
    try:
        with torch.no_grad():
            executor.run([Task(0, Condition(class_label=2), 0)])
    except Stop:
        pass
    assert ElsewhereVerifier.seen == ["meta"]
