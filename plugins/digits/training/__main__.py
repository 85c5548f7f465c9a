"""``python -m noisesearch_plugins.digits.training``: train the digits world (jsonargparse CLI of ``train``)."""

from jsonargparse import CLI

from .fit import train

CLI(train, as_positional=False)
