"""One command trains the motion world with Lightning ``fit``: motion-clip and the clip denoiser (the evaluator reads
frames with the shapes world's reader).

``python -m noisesearch_plugins.motion.training --config configs/train/motion.yaml`` (``--parts`` picks some).
"""

from __future__ import annotations

from pathlib import Path

import torch

from noisesearch_plugins.worlds.training import record_figures, train_clip_verifier, train_denoiser

from .data import examples
from ..captions import parse, reverse
from ..networks import clip_config, text_encoder_config, unet_config, weave
from ..pipeline import MotionFamily
from ..words import WORDS

PARTS = ("clip", "diffusion")


def woven_examples(count: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """Training pairs for motion-clip: each clip woven into one image, in [0, 1] as the verifier gives them; half of
    them are the others played backwards under the reversed caption, so that which way things move decides."""
    captions, clips = examples(count - count // 2, seed)
    backwards = [reverse(parse(caption)).text for caption in captions[: count // 2]]
    clips = torch.cat([clips, clips[: count // 2].flip(1)])
    return captions + backwards, (weave(clips) + 1) / 2


def train(out: Path = Path("plugins/motion/weights"), parts: list[str] = list(PARTS), diffusion_steps: int = 1500,
          diffusion_lr: float = 1e-3, p_uncond: float = 0.1, ema_decay: float = 0.999, batch_size: int = 32,
          diffusion_seed: int = 0, sigma_min: float = 0.002, sigma_max: float = 80.0, clip_steps: int = 1000,
          clip_batch_size: int = 192, clip_lr: float = 1e-3, clip_seed: int = 1,
          diffusion_init: Path | None = None) -> dict:
    """Train the named parts and merge their figures into ``out/training.json``; ``diffusion_init`` (a weights folder)
    continues an earlier denoiser's training instead of starting afresh."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    figures = {}
    if "clip" in parts:
        figures.update(train_clip_verifier(out / "clip", clip_config(), WORDS, woven_examples, clip_steps,
                                           clip_batch_size, clip_lr, clip_seed))
    if "diffusion" in parts:
        figures.update(train_denoiser(out, MotionFamily.name, WORDS, unet_config(), text_encoder_config(), examples,
                                      diffusion_steps, batch_size, diffusion_lr, p_uncond, ema_decay, diffusion_seed,
                                      sigma_min, sigma_max, diffusion_init))
    return record_figures(out, figures)
