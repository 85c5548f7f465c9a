"""The embedded ``shapes`` world: pipeline ``shapes``, verifier ``shapes-clip``, evaluator ``shapes-eval`` (entry point ``shapes``)."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)


@hookimpl
def noisesearch_pipelines():
    from .pipeline import ShapesFamily

    return [ShapesFamily]


@hookimpl
def noisesearch_verifiers():
    from .verifier import ShapesCLIPVerifier

    return [ShapesCLIPVerifier]
