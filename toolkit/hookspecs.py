"""pluggy hook specifications: one hook per kind of thing a plugin can provide."""

import pluggy

PROJECT = "noisesearch"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def noisesearch_algorithms():
    """Return a list of SearchAlgorithm subclasses, each with a unique ``name``."""


@hookspec
def noisesearch_verifiers():
    """Return a list of Verifier subclasses, each with a unique ``name``."""


@hookspec
def noisesearch_pipelines():
    """Return a list of Pipeline subclasses (model families), each with a unique ``name``."""
