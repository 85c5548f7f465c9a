"""``python -m noisesearch_plugins.motion.training``: train the motion world (jsonargparse CLI of ``train``)."""

from jsonargparse import CLI

from .fit import train

CLI(train, as_positional=False)
