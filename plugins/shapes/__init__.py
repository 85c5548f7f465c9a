"""The embedded ``shapes`` world: pipeline ``shapes``, verifier ``shapes-clip``, evaluator ``shapes-eval`` (entry point ``shapes``)."""

from noisesearch.plugin import hookimpl


@hookimpl
def noisesearch_pipelines():
    from .pipeline import ShapesPipeline

    return [ShapesPipeline]


@hookimpl
def noisesearch_verifiers():
    from .verifier import ShapesCLIPVerifier

    return [ShapesCLIPVerifier]
