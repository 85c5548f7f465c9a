"""The embedded ``digits`` world: pipeline ``digits`` and verifier ``digits-classifier`` (entry point ``digits``)."""

from noisesearch.plugin import hookimpl


@hookimpl
def noisesearch_pipelines():
    from .pipeline import DigitsPipeline

    return [DigitsPipeline]


@hookimpl
def noisesearch_verifiers():
    from .verifier import DigitsClassifier

    return [DigitsClassifier]
