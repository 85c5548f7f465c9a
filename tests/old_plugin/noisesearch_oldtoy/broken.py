"""What cannot be adapted: a denoise of another shape, a verifier without score, a plugin from the future."""

from noisesearch.plugin import Verifier, hookimpl

from . import OldToy


class Twisted(OldToy):
    """A denoise that wants a fifth argument no version ever passed."""

    name = "twisted-toy"

    def denoise(self, x, sigma, cond, guidance, temperature):
        return x


class Mute(Verifier):
    """A verifier that never scores."""

    name = "mute"


@hookimpl
def noisesearch_pipelines():
    return [Twisted]


@hookimpl
def noisesearch_verifiers():
    return [Mute]
