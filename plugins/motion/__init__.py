"""The embedded ``motion`` world: pipeline ``motion``, verifier ``motion-clip``, evaluator ``motion-eval`` (entry point
``motion``)."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)


@hookimpl
def noisesearch_pipelines():
    from .pipeline import MotionFamily

    return [MotionFamily]


@hookimpl
def noisesearch_verifiers():
    from .verifier import MotionCLIPVerifier

    return [MotionCLIPVerifier]
