"""Training of the shapes world with Lightning (never imported at search time): the diffusion model and its text
encoder, shapes-clip, and the evaluator's reader. ``python -m noisesearch_plugins.shapes.training --config
configs/train/shapes.yaml`` (``--parts`` picks some)."""

from .fit import train

__all__ = ["train"]
