"""Measures the motion world's model card: evaluator validation, motion-clip's pairwise accuracy, plain-sample accuracy.

``python -m noisesearch_plugins.motion.card [--weights plugins/motion/weights] [--per_prompt 8]``
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from noisesearch.bench.metrics import judged_accuracy
from noisesearch.plugin import Condition
from noisesearch_plugins.shapes.reader import Reader
from noisesearch_plugins.worlds.judging import plain_outputs

from .captions import CATEGORIES, clip_for, sample_caption
from .evaluation import MotionEvaluation, aspect_accuracy, validate, verdicts_of
from .movers import render_clip
from .pipeline import MotionFamily
from .verifier import MotionCLIPVerifier

PROMPTS = Path(__file__).resolve().parents[2] / "configs" / "bench" / "motion-prompts.txt"


def clip_pairwise(verifier: MotionCLIPVerifier, seed: int, per_category: int) -> dict:
    """How often motion-clip scores a clean clip's own caption above another caption of its category."""
    rng = random.Random(seed)
    table = {}
    for category in CATEGORIES:
        wins = 0
        for _ in range(per_category):
            caption = sample_caption(category, rng)
            other = sample_caption(category, rng)
            while other.text == caption.text:
                other = sample_caption(category, rng)
            clip = torch.from_numpy(render_clip(clip_for(caption, rng)).copy()).permute(0, 3, 1, 2).float()[None] / 255
            scores = verifier.score(clip.expand(2, -1, -1, -1, -1), [Condition(prompt=caption.text),
                                                                     Condition(prompt=other.text)])
            wins += bool(scores[0] > scores[1])
        table[category] = round(wins / per_category, 4)
    table["overall"] = round(sum(table.values()) / len(CATEGORIES), 4)
    return table


def plain_samples(weights: Path, prompts: list[str], per_prompt: int, seed: int) -> dict:
    """motion-eval's accuracy of samples without search at the pipeline's defaults, per category, aspect and overall."""
    clips, conditions, figures = plain_outputs(weights, prompts, per_prompt, seed)
    found = MotionEvaluation().aspects(clips, conditions)  # every frame read once
    return {
        "accuracy": {k: round(v, 4) for k, v in judged_accuracy(verdicts_of(conditions, found)).items()},
        "aspects": aspect_accuracy(found),
        **figures,
    }


def main(weights: Path = Path("plugins/motion/weights"), per_prompt: int = 8, seed: int = 0) -> None:
    """Measure and write ``model_card.json`` beside the weights."""
    weights = Path(weights)
    clip = MotionCLIPVerifier(f"local-dir:{weights / 'clip'}")
    prompts = [line.strip() for line in PROMPTS.read_text().splitlines() if line.strip()]
    card = {
        "defaults": {"steps": MotionFamily.default_steps, "sampler": MotionFamily.default_sampler,
                     "guidance": MotionFamily.default_guidance, "frames": MotionFamily.default_frames},
        "training": json.loads((weights / "training.json").read_text()),
        "evaluator_validation": {"seed": 5, "clips_per_category": 100, "agreement": validate(Reader(), 5, 100)},
        "motion_clip_pairwise": {"seed": 7, "clips_per_category": 100, "accuracy": clip_pairwise(clip, 7, 100)},
        "plain_samples": {"prompts": str(PROMPTS.relative_to(PROMPTS.parents[2])), "per_prompt": per_prompt,
                          "seed": seed, **plain_samples(weights, prompts, per_prompt, seed)},
    }
    (weights / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    from jsonargparse import CLI

    CLI(main, as_positional=False)
