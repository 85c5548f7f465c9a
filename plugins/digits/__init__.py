"""The embedded ``digits`` world: pipeline ``digits`` and verifier ``digits-classifier`` (entry point ``digits``)."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)


@hookimpl
def noisesearch_pipelines():
    from .pipeline import DigitsFamily

    return [DigitsFamily]


@hookimpl
def noisesearch_verifiers():
    from .verifier import DigitsClassifier

    return [DigitsClassifier]
