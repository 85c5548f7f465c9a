"""Clips: which frames an image verifier judges, how their scores make the clip's, and a verifier that watches the
whole clip (``temporal``)."""

import pytest
import torch

from noisesearch.clips import judged_frames
from noisesearch.conditions import Condition
from noisesearch.engine.scoring import Scorer
from noisesearch.verifier import Verifier


class Brightness(Verifier):
    """The mean pixel of each image; records the batches it was given."""

    name = "brightness"

    def __init__(self):
        super().__init__()
        self.seen = []

    def score(self, images, conditions):
        self.seen.append(tuple(images.shape))
        return images.flatten(1).mean(dim=1)


class Watcher(Brightness):
    name = "watcher"
    watches_clips = True

    def score(self, images, conditions):
        self.seen.append(tuple(images.shape))
        return images.flatten(2).mean(dim=2).max(dim=1).values  # its own view: the brightest frame


def rising(clips=2, frames=10):
    """Clips whose frame f is flat at (f + 1) / 20, the second clip twice as bright."""
    levels = torch.arange(1, frames + 1) / 20
    clip = levels.view(frames, 1, 1, 1).expand(frames, 3, 4, 4)
    return torch.stack([clip * (c + 1) for c in range(clips)])


@pytest.mark.parametrize("count,wanted,aggregate,frames", [
    (10, 4, "mean", [0, 3, 6, 9]), (10, 1, "mean", [5]), (3, 8, "min", [0, 1, 2]), (10, 4, "first", [0]),
    (10, 4, "last", [9]), (81, 8, "mean", [0, 11, 23, 34, 46, 57, 69, 80]),
])
def test_judged_frames_are_evenly_spaced_with_the_first_and_last(count, wanted, aggregate, frames):
    assert judged_frames(count, wanted, aggregate) == frames


@pytest.mark.parametrize("aggregate,expected", [
    ("mean", [(1 + 4 + 7 + 10) / 80, (1 + 4 + 7 + 10) / 40]), ("min", [1 / 20, 2 / 20]),
    ("first", [1 / 20, 2 / 20]), ("last", [10 / 20, 20 / 20]),
])
def test_an_image_verifier_judges_a_clips_frames_and_their_scores_combine(aggregate, expected):
    verifier = Brightness()
    values = Scorer([verifier], clip_frames=4, clip_aggregate=aggregate).values(
        rising(), [Condition(prompt="a"), Condition(prompt="b")])
    assert values["brightness"].tolist() == pytest.approx(expected)
    judged = 1 if aggregate in ("first", "last") else 4
    assert verifier.seen == [(2 * judged, 3, 4, 4)]  # frames as one batch of images


def test_a_verifier_that_watches_clips_gets_them_whole():
    watcher, plain = Watcher(), Brightness()
    values = Scorer([watcher, plain], clip_frames=2).values(rising(), [Condition(prompt="a")] * 2)
    assert watcher.seen == [(2, 10, 3, 4, 4)] and plain.seen == [(4, 3, 4, 4)]
    assert values["watcher"].tolist() == pytest.approx([0.5, 1.0])


def test_temporal_consistency_is_highest_for_a_still_clip_and_has_gradients(tiny_clip):
    from noisesearch_plugins.verifiers.temporal import TemporalConsistency

    temporal = TemporalConsistency(f"local-dir:{tiny_clip}")
    torch.manual_seed(0)
    still = torch.rand(1, 3, 32, 32).expand(6, 3, 32, 32)
    flicker = torch.rand(6, 3, 32, 32)
    clips = torch.stack([still, flicker]).requires_grad_(True)
    scores = temporal.score(clips, [Condition(prompt="a")] * 2)
    assert scores[0].item() == pytest.approx(100.0, abs=1e-3) and scores[1].item() < 99.0
    scores.sum().backward()
    assert clips.grad is not None and clips.grad[1].abs().sum() > 0
    assert temporal.score(torch.rand(2, 3, 32, 32), [Condition(prompt="a")] * 2).tolist() == [100.0, 100.0]
