"""Evaluator ``motion-eval``: reads every frame's objects (the shapes world's reader), follows them through the clip and
checks the prompt's objects, direction and extent of motion. It never drives search.

``python -m noisesearch_plugins.motion.evaluation OUT_DIR`` judges a finished run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from noisesearch.plugin import Condition, Evaluation
from noisesearch.bench.metrics import judged_accuracy, rgb_uint8
from noisesearch.store.folder import RunDir
from noisesearch_plugins.worlds.judging import judge_run_command, run_figures
from noisesearch_plugins.shapes.reader import Reader
from noisesearch_plugins.shapes.scenes import Scene

from .captions import CATEGORIES, clip_for, parse, sample_caption
from .movers import FRAMES, noisy_clip
from .rules import ASPECTS, aspects

OUTSIDE = "outside_grammar"


class MotionEvaluation(Evaluation):
    """The motion world's judge: per prompt, whether the clip shows the asked objects moving the asked way."""

    name = "motion-eval"
    has_features = False

    def __init__(self, reader: Optional[Reader] = None):
        self.reader = reader or Reader()

    def read(self, clip: np.ndarray) -> list[Scene]:
        """The objects of every frame of an RGB uint8 clip (F, H, W, 3)."""
        return [self.reader.read(frame) for frame in clip]

    def aspects(self, clips: torch.Tensor, conditions: Sequence[Condition]) -> list[Optional[dict[str, bool]]]:
        """Each clip's verdict per aspect (None for a prompt outside the grammar)."""
        b, f = clips.shape[:2]
        pixels = rgb_uint8(clips.detach().float().flatten(0, 1)).permute(0, 2, 3, 1).cpu().numpy()
        pixels = pixels.reshape(b, f, *pixels.shape[1:])
        found = []
        for clip, condition in zip(pixels, conditions):
            try:
                caption = parse(condition.prompt)
            except ValueError:
                found.append(None)
                continue
            found.append(aspects(self.read(clip), caption))
        return found

    def judge(self, images: torch.Tensor, conditions: Sequence[Condition]) -> list[tuple[str, Optional[bool]]]:
        """(category, correct) per clip; prompts outside the grammar give (``outside_grammar``, None)."""
        return verdicts_of(conditions, self.aspects(images, conditions))


def verdicts_of(conditions: Sequence[Condition], found: Sequence[Optional[dict[str, bool]]]
                ) -> list[tuple[str, Optional[bool]]]:
    """(category, correct) per clip from its aspects' verdicts (``outside_grammar``, None where it has none)."""
    return [(OUTSIDE, None) if f is None else (parse(c.prompt).category, all(f.values()))
            for c, f in zip(conditions, found)]


def validate(reader: Reader, seed: int, per_category: int) -> dict[str, float]:
    """Agreement of verdicts on read clips with verdicts on the true clips, per category and overall: fresh noisy
    renders, each checked against its own caption and another caption of its category (mostly false)."""
    from .rules import satisfied

    judge = MotionEvaluation(reader)
    rng = random.Random(seed)
    table = {}
    for category in CATEGORIES:
        agree = 0
        for _ in range(per_category):
            caption, other = sample_caption(category, rng), sample_caption(category, rng)
            clip = clip_for(caption, rng, distractors=rng.randint(0, 1) if caption.count == 1 else 0)
            truth = [clip.frame(i) for i in range(FRAMES)]
            read = judge.read(noisy_clip(clip, rng))
            agree += sum(satisfied(read, probe) == satisfied(truth, probe) for probe in (caption, other))
        table[category] = round(agree / (2 * per_category), 4)
    table["overall"] = round(float(np.mean(list(table.values()))), 4)
    return table


def aspect_accuracy(found: Sequence[Optional[dict[str, bool]]]) -> dict[str, float]:
    """The share of judged clips that pass each aspect."""
    judged = [f for f in found if f is not None]
    return {a: round(sum(f[a] for f in judged) / len(judged), 4) for a in ASPECTS} if judged else {}


def evaluate_run(out: Path) -> dict:
    """motion-eval's accuracy per category, per aspect and overall for a run folder's clips, with the run's NFEs."""
    clips, conditions, summary = RunDir(out).load_images()
    judge = MotionEvaluation()
    found = judge.aspects(clips, conditions)
    verdicts = verdicts_of(conditions, found)
    return {
        **run_figures(summary, len(conditions)),
        "accuracy": {key: round(value, 4) for key, value in judged_accuracy(verdicts).items()},
        "aspects": aspect_accuracy(found),
        "per_prompt": [{"prompt": c.prompt, "category": v[0], "correct": v[1], "aspects": f}
                       for c, v, f in zip(conditions, verdicts, found)],
    }


if __name__ == "__main__":
    judge_run_command(evaluate_run, "noisesearch_plugins.motion.evaluation")
