"""Training of the digits world's networks with Lightning (never imported at search time):
``python -m noisesearch_plugins.digits.training --config configs/train/digits.yaml``."""

from .fit import heldout_accuracy, train

__all__ = ["heldout_accuracy", "train"]
