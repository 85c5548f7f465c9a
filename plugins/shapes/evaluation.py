"""Evaluator ``shapes-eval``: a GenEval-like judge that reads each image's objects and checks its prompt's requirements.

It never drives search. ``python -m noisesearch_plugins.shapes.evaluation OUT_DIR`` judges a finished run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from noisesearch.plugin import Condition, Evaluation
from noisesearch.store.folder import RunDir
from noisesearch_plugins.worlds.judging import judge_run_command, run_figures
from noisesearch.bench.metrics import judged_accuracy, rgb_uint8

from .captions import CATEGORIES, parse, sample_caption, satisfied, scene_for
from .reader import Reader

OUTSIDE = "outside_grammar"


class ShapesEvaluation(Evaluation):
    """The shapes world's judge: per prompt, whether the image shows what it asks (GenEval's rules)."""

    name = "shapes-eval"
    has_features = False  # no reference set for FID: prompts describe scenes only partly

    def __init__(self, reader: Optional[Reader] = None):
        self.reader = reader or Reader()

    def judge(self, images: torch.Tensor, conditions: Sequence[Condition]) -> list[tuple[str, Optional[bool]]]:
        """(category, correct) per image; prompts outside the grammar give (``outside_grammar``, None)."""
        verdicts = []
        pixels = rgb_uint8(images.detach().float()).permute(0, 2, 3, 1).cpu().numpy()
        for image, condition in zip(pixels, conditions):
            try:
                caption = parse(condition.prompt)
            except ValueError:
                verdicts.append((OUTSIDE, None))
                continue
            verdicts.append((caption.category, satisfied(self.reader.read(image), caption)))
        return verdicts


def validate(reader: Reader, seed: int, per_category: int) -> dict[str, float]:
    """Agreement of verdicts on read scenes with verdicts on the true scenes, per category and overall.

    Scenes are fresh noisy renders made for held-out prompts (colour prompts use only held-out colour-shape pairs),
    each checked against its own caption and another caption of its category (mostly false).
    """
    from .scenes import noisy_render

    rng = random.Random(seed)
    table = {}
    for category in CATEGORIES:
        held = category in ("colours", "colour_attribution")
        agree = 0
        for _ in range(per_category):
            caption, other = sample_caption(category, rng, held_out=held), sample_caption(category, rng, held_out=held)
            scene = scene_for(caption, rng, distractors=rng.randint(0, 2))
            read = reader.read(noisy_render(scene, rng))
            agree += sum(satisfied(read, probe) == satisfied(scene, probe) for probe in (caption, other))
        table[category] = round(agree / (2 * per_category), 4)
    table["overall"] = round(float(np.mean(list(table.values()))), 4)
    return table


def geneval_agreement(detector: Path, seed: int, per_category: int, options: str = "") -> dict[str, float]:
    """Agreement of ``geneval``'s verdicts (the shapes-owl detector, shapes-clip colours) with verdicts on the true
    scenes, on the same scenes and probes as ``validate`` draws for the same seed."""
    from noisesearch_plugins.verifiers.geneval import GenEvalVerifier
    from noisesearch_plugins.verifiers.geneval_requirements import parse_prompt
    from noisesearch_plugins.verifiers.geneval_rules import verdict

    from .scenes import noisy_render
    from .verifier import CLIP_FOLDER

    judge = GenEvalVerifier(f"detector={detector},clip=local-dir:{CLIP_FOLDER}" + (f",{options}" if options else ""))
    rng = random.Random(seed)
    table = {}
    for category in CATEGORIES:
        held = category in ("colours", "colour_attribution")
        images, probes, truths = [], [], []
        for _ in range(per_category):
            caption, other = sample_caption(category, rng, held_out=held), sample_caption(category, rng, held_out=held)
            scene = scene_for(caption, rng, distractors=rng.randint(0, 2))
            image = torch.from_numpy(noisy_render(scene, rng)).permute(2, 0, 1).float() / 255
            for probe in (caption, other):
                images.append(image)
                probes.append(parse_prompt(probe.text))
                truths.append(satisfied(scene, probe))
        found = []
        for start in range(0, len(images), 64):
            found += judge.detections(torch.stack(images[start : start + 64]), probes[start : start + 64])
        agree = sum(verdict(r, f, judge.limits) == t for r, f, t in zip(probes, found, truths))
        table[category] = round(agree / len(truths), 4)
    table["overall"] = round(float(np.mean(list(table.values()))), 4)
    return table


def evaluate_run(out: Path) -> dict:
    """shapes-eval's accuracy per category and overall for a run folder's images, with the run's NFEs."""
    images, conditions, summary = RunDir(out).load_images()
    verdicts = ShapesEvaluation().judge(images, conditions)
    return {
        **run_figures(summary, len(conditions)),
        "accuracy": {key: round(value, 4) for key, value in judged_accuracy(verdicts).items()},
        "per_prompt": [{"prompt": c.prompt, "category": v[0], "correct": v[1]} for c, v in zip(conditions, verdicts)],
    }


if __name__ == "__main__":
    judge_run_command(evaluate_run, "noisesearch_plugins.shapes.evaluation")
