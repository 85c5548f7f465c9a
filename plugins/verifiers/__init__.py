"""Built-in verifiers on open_clip, transformers and chat APIs (entry point ``builtin-verifiers``)."""

from noisesearch.plugin import hookimpl

NOISESEARCH_API = 3  # the plugin API this package targets (noisesearch.plugin.API_VERSION)


@hookimpl
def noisesearch_verifiers():
    from .aesthetic import AestheticVerifier
    from .classifier import ClassifierVerifier
    from .clip_score import CLIPScoreVerifier, HPSv2Verifier
    from .early import EarlyVerifier
    from .geneval import GenEvalVerifier
    from .imagereward import ImageRewardVerifier
    from .pickscore import PickScoreVerifier
    from .self_supervised import SelfSupervisedVerifier
    from .temporal import TemporalConsistency
    from .vlm import VLMJudge
    from .vqascore import VQAScoreVerifier
    from .zeroshot import CLIPZeroShot

    return [ClassifierVerifier, CLIPZeroShot, SelfSupervisedVerifier, CLIPScoreVerifier, AestheticVerifier,
            HPSv2Verifier, PickScoreVerifier, ImageRewardVerifier, VLMJudge, VQAScoreVerifier,
            GenEvalVerifier, EarlyVerifier, TemporalConsistency]
