"""Training the motion world (``python -m noisesearch_plugins.motion.training``)."""

from .fit import train

__all__ = ["train"]
