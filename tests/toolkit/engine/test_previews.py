"""The search hands preview verifiers the x0-prediction at sigma 0.4 (Ma et al. 2025, 3.2), at no extra NFE."""

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.sampling.denoiser import CountingDenoiser
from noisesearch.engine import Executor, SearchSettings, Task, preview_level
from noisesearch.store.journal import Journal, read_run
from helpers import solve
from noisesearch.testing.toys import ToyMixture, ToyVerifier
from noisesearch.testing.verifiers import check_verifier, sample_images
from noisesearch.verifier import Verifier
from noisesearch_plugins.algorithms import Halving, RandomSearch
from noisesearch_plugins.verifiers.self_supervised import SelfSupervisedVerifier


class RecordingPreviews(Verifier):
    """Scores the negative distance between sample and preview, and keeps every (image, preview) pair it saw."""

    name = "recording-previews"
    preview_sigma = 0.4

    def __init__(self, spec=None):
        super().__init__(spec)
        self.seen = []

    def score(self, images, conditions, previews=None):
        self.seen.append((images.clone(), previews.clone()))
        return -(images - previews).flatten(1).abs().mean(1)


def settings(algorithm, args, budget, steps=8):
    return SearchSettings(algorithm, algorithm.parse_params(args), budget, steps, "heun", 1.0, 8, 8, 8, 0)


def test_the_preview_level_is_the_schedule_level_nearest_in_log_sigma():
    sigmas = torch.tensor([20.0, 3.0, 0.5, 0.1, 0.0])
    assert preview_level(sigmas, [RecordingPreviews()]) == pytest.approx(0.5)
    assert preview_level(torch.tensor([20.0, 0.9, 0.3, 0.0]), [RecordingPreviews()]) == pytest.approx(0.3)
    assert preview_level(sigmas, [ToyVerifier()]) is None


def test_previews_are_the_x0_prediction_at_that_level_and_cost_nothing():
    pipeline, recorder = ToyMixture(), RecordingPreviews()
    plan = settings(RandomSearch, {"n": 3}, 3 * 15)
    executor = Executor(pipeline, [recorder], plan)
    with torch.no_grad():
        (result,) = executor.run([Task(0, Condition(class_label=2), 0)])
    assert executor.stats.nfe == 45
    level = executor.evaluator.planner.preview_level
    images, previews = recorder.seen[0]
    cond = pipeline.encode([Condition(class_label=2)]).expand(3, -1, -1, -1, -1)
    noises = torch.stack([pipeline.initial_latents(n[None], executor.schedule.sigmas)[0] for n in
                          [RandomSearch(plan.params, executor.context(Task(0, Condition(class_label=2), 0))).ask()[i]
                           .noise.build(executor.schedule.shape) for i in range(3)]])
    seen = {}
    solve(CountingDenoiser(pipeline.denoise, 1), noises, executor.schedule.sigmas, cond, "heun",
          on_step=lambda step: seen.setdefault(round(step.sigma, 6), step.x0))
    assert torch.allclose(previews, pipeline.decode(seen[round(level, 6)]), atol=1e-6)
    assert not torch.allclose(previews, images, atol=1e-3)
    assert result.scores["recording-previews"] == pytest.approx(max(
        float(s) for s in -(images - previews).flatten(1).abs().mean(1)))


def test_kept_states_carry_their_previews_through_the_journal(tmp_path):
    plan = settings(Halving, {"eta": 2, "rungs": [2, 6]}, 60)
    tasks = [Task(0, Condition(class_label=1), 0), Task(1, Condition(class_label=3), 0)]
    journal = Journal(tmp_path / "rank0.jsonl")
    first = Executor(ToyMixture(), [RecordingPreviews()], plan, journal)
    with torch.no_grad():
        expected = first.run(tasks)
    journal.close()
    candidates, _ = read_run(tmp_path)
    kept = {key: record for key, record in candidates.items() if record.stop > 0}  # a run killed after rung 1
    assert kept and len(kept) < len(candidates)
    again = Executor(ToyMixture(), [RecordingPreviews()], plan, Journal(tmp_path / "rank0.jsonl"), kept)
    with torch.no_grad():
        replayed = again.run(tasks)
    assert 0 < again.stats.nfe < first.stats.nfe
    for a, b in zip(expected, replayed):
        assert a.candidate == b.candidate and a.scores == b.scores and torch.equal(a.image, b.image)


def test_self_supervised_passes_the_conformance_suite_and_scores_previews():
    verifier = SelfSupervisedVerifier("digits-classifier")
    conditions = [Condition(class_label=i) for i in range(4)]
    check_verifier(verifier, conditions, sample_images(4, channels=1, size=16))
    images = sample_images(4, channels=1, size=16)
    assert torch.allclose(verifier.score(images, conditions, previews=images), torch.ones(4), atol=1e-5)
    with pytest.raises(ValueError, match="needs previews"):
        verifier.score(images, conditions)


def test_preview_verifiers_that_disagree_on_the_level_are_refused():
    from noisesearch.errors import UsageError

    class Lower(RecordingPreviews):
        name = "lower-previews"
        preview_sigma = 0.1

    with pytest.raises(UsageError, match="different noise levels"):
        preview_level(torch.tensor([20.0, 0.5, 0.1, 0.0]), [RecordingPreviews(), Lower()])


class RecordingSizes(Verifier):
    """Scores the mean brightness and keeps the size of every batch of images it saw."""

    name = "recording-sizes"

    def __init__(self, spec=None):
        super().__init__(spec)
        self.sizes = []

    def score(self, images, conditions, previews=None):
        self.sizes.append(tuple(images.shape[-2:]))
        return images.flatten(1).mean(1)


def test_preview_size_scores_x0_previews_smaller_and_finished_images_whole():
    pipeline, recorder = ToyMixture(), RecordingSizes()
    plan = SearchSettings(Halving, Halving.parse_params({"n": 4}), 48, 8, "heun", 1.0, 8, 8, 8, 0, preview_size=4)
    executor = Executor(pipeline, [recorder], plan)
    with torch.no_grad():
        executor.run([Task(0, Condition(class_label=2), 0)])
    assert (4, 4) in recorder.sizes and (8, 8) in recorder.sizes  # the pruning rungs' previews, then finished ones
    whole = SearchSettings(Halving, Halving.parse_params({"n": 4}), 48, 8, "heun", 1.0, 8, 8, 8, 0)
    recorder.sizes.clear()
    with torch.no_grad():
        Executor(pipeline, [recorder], whole).run([Task(0, Condition(class_label=2), 0)])
    assert set(recorder.sizes) == {(8, 8)}
