"""Measures the shapes world's model card: evaluator validation, shapes-clip's pairwise accuracy, plain-sample accuracy.

``python -m noisesearch_plugins.shapes.card [--weights plugins/shapes/weights] [--per_prompt 8]``
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from noisesearch.plugin import Condition
from noisesearch.bench.metrics import judged_accuracy
from noisesearch_plugins.worlds.judging import plain_outputs

from .captions import CATEGORIES, parse, sample_caption, scene_for, uses_held_out
from .evaluation import ShapesEvaluation, validate
from .pipeline import ShapesFamily
from .reader import Reader
from .scenes import render
from .verifier import ShapesCLIPVerifier

PROMPTS = Path(__file__).resolve().parents[2] / "configs" / "bench" / "shapes-prompts.txt"


def clip_pairwise(verifier: ShapesCLIPVerifier, seed: int, per_category: int, held_out: bool = False) -> dict:
    """How often shapes-clip scores a clean render's own caption above another caption of its category
    (``held_out``: colour categories use held-out colour-shape pairs only)."""
    rng = random.Random(seed)
    table = {}
    for category in CATEGORIES:
        wins = 0
        for _ in range(per_category):
            held = held_out and category in ("colours", "colour_attribution")
            caption = sample_caption(category, rng, held_out=held)
            other = sample_caption(category, rng, held_out=held)
            while other.text == caption.text:
                other = sample_caption(category, rng, held_out=held)
            image = torch.from_numpy(render(scene_for(caption, rng)).copy()).permute(2, 0, 1).float()[None] / 255
            scores = verifier.score(image.expand(2, -1, -1, -1), [Condition(prompt=caption.text),
                                                                  Condition(prompt=other.text)])
            wins += bool(scores[0] > scores[1])
        table[category] = round(wins / per_category, 4)
    table["overall"] = round(sum(table.values()) / len(CATEGORIES), 4)
    return table


def plain_samples(weights: Path, prompts: list[str], per_prompt: int, seed: int) -> dict:
    """shapes-eval's accuracy of samples without search at the pipeline's defaults, per category and overall."""
    images, conditions, figures = plain_outputs(weights, prompts, per_prompt, seed)
    verdicts = ShapesEvaluation().judge(images, conditions)
    held = [v for v, c in zip(verdicts, conditions) if uses_held_out(parse(c.prompt))]
    return {
        "accuracy": {k: round(v, 4) for k, v in judged_accuracy(verdicts).items()},
        "held_out_pairs_accuracy": round(sum(v for _, v in held) / len(held), 4) if held else None,
        **figures,
    }


def main(weights: Path = Path("plugins/shapes/weights"), per_prompt: int = 8, seed: int = 0) -> None:
    """Measure and write ``model_card.json`` beside the weights."""
    weights = Path(weights)
    clip = ShapesCLIPVerifier(f"local-dir:{weights / 'clip'}")
    prompts = [line.strip() for line in PROMPTS.read_text().splitlines() if line.strip()]
    card = {
        "defaults": {"steps": ShapesFamily.default_steps, "sampler": ShapesFamily.default_sampler,
                     "guidance": ShapesFamily.default_guidance},
        "training": json.loads((weights / "training.json").read_text()),
        "evaluator_validation": {"seed": 5, "scenes_per_category": 100,
                                 "agreement": validate(Reader(weights / "reader.safetensors"), 5, 100)},
        "shapes_clip_pairwise": {"seed": 7, "renders_per_category": 100,
                                 "seen_pairs": clip_pairwise(clip, 7, 100),
                                 "held_out_pairs": clip_pairwise(clip, 8, 100, held_out=True)},
        "plain_samples": {"prompts": str(PROMPTS.relative_to(PROMPTS.parents[2])), "per_prompt": per_prompt,
                          "seed": seed, **plain_samples(weights, prompts, per_prompt, seed)},
    }
    (weights / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    from jsonargparse import CLI

    CLI(main, as_positional=False)
