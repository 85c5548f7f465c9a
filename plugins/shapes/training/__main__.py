"""``python -m noisesearch_plugins.shapes.training``: train the shapes world (jsonargparse CLI of ``train``)."""

from jsonargparse import CLI

from .fit import train

CLI(train, as_positional=False)
