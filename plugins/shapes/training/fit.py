"""One command trains the shapes world with Lightning ``fit``: the evaluator's reader, shapes-clip, the diffusion model
and shapes-owl (the detector ``geneval`` reads shapes with).

``python -m noisesearch_plugins.shapes.training --config configs/train/shapes.yaml`` (``--parts`` picks some).
"""

from __future__ import annotations

from pathlib import Path

from noisesearch_plugins.worlds.training import record_figures, train_clip_verifier, train_denoiser

from .data import examples
from ..networks import clip_config, text_encoder_config, unet_config
from ..pipeline import ShapesFamily
from ..words import WORDS

PARTS = ("reader", "clip", "diffusion", "detector")


def train(out: Path = Path("plugins/shapes/weights"), parts: list[str] = list(PARTS), diffusion_steps: int = 3000,
          diffusion_lr: float = 1e-3, p_uncond: float = 0.1, ema_decay: float = 0.999, batch_size: int = 64,
          diffusion_seed: int = 0, sigma_min: float = 0.002, sigma_max: float = 80.0, reader_samples: int = 12000,
          reader_epochs: int = 6, clip_steps: int = 1500, clip_batch_size: int = 256, clip_lr: float = 1e-3,
          clip_seed: int = 1, detector_steps: int = 4000, detector_batch_size: int = 64, detector_lr: float = 2e-3,
          detector_seed: int = 3) -> dict:
    """Train the named parts and merge their figures into ``out/training.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    if "reader" in parts:
        from .reader import train_reader

        figures.update(train_reader(out / "reader.safetensors", reader_samples, reader_epochs))
    if "clip" in parts:
        figures.update(train_clip_verifier(out / "clip", clip_config(), WORDS, examples, clip_steps, clip_batch_size,
                                           clip_lr, clip_seed))
    if "detector" in parts:
        from .detector import train_detector

        figures.update(train_detector(out / "detector", detector_steps, detector_batch_size, detector_lr,
                                      detector_seed))
    if "diffusion" in parts:
        figures.update(train_denoiser(out, ShapesFamily.name, WORDS, unet_config(), text_encoder_config(), examples,
                                      diffusion_steps, batch_size, diffusion_lr, p_uncond, ema_decay, diffusion_seed,
                                      sigma_min, sigma_max))
    return record_figures(out, figures)
