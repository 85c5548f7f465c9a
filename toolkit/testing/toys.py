"""Toy worlds with exact denoisers (Gaussian mixtures), for fast conformance checks without trained weights."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch

from ..conditions import Condition
from ..hookspecs import hookimpl
from ..pipeline import Family, Pipeline
from ..sampling.schedule import karras_sigmas
from ..verifier import Verifier

NOISESEARCH_API = 3  # the plugin API these toys target (noisesearch.plugin.API_VERSION)

SIZE = 8
SPREAD = 0.3


def _pattern(key: int, mode: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 * key + mode)
    return torch.rand(1, SIZE, SIZE, generator=generator) * 2 - 1


class ToyMixture(Pipeline):
    """Per condition, a two-mode Gaussian mixture with an exact posterior-mean denoiser (no network)."""

    def __init__(self, source=None):
        super().__init__(source)
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)

    def key(self, condition: Condition) -> int:
        return condition.class_label

    def latent_shape(self, height, width):
        return (1, height, width)

    def sigmas(self, steps):
        return karras_sigmas(steps, 0.01, 20.0)

    def encode(self, conditions: Sequence[Condition]):
        means = [torch.stack([_pattern(self.key(c), 0), _pattern(self.key(c), 1)]) for c in conditions]
        return torch.stack(means).to(self.anchor.device)

    def denoise(self, x, sigma, means):
        sigma = sigma.view(-1, 1, 1, 1, 1)
        variance = SPREAD**2 + sigma**2
        diff = x.unsqueeze(1) - means
        logits = -(diff**2).flatten(2).sum(-1) / (2 * variance.view(-1, 1))
        weights = logits.softmax(dim=1).view(*logits.shape, 1, 1, 1)
        posterior = means + SPREAD**2 / variance * diff
        return (weights * posterior).sum(dim=1)

    def decode(self, x0):
        return ((x0 + 1) / 2).clamp(0, 1)


class ToyPromptMixture(ToyMixture):
    """The toy mixture conditioned on prompts (each prompt hashed to its own pair of modes)."""

    def key(self, condition: Condition) -> int:
        return int(hashlib.sha256(condition.prompt.encode()).hexdigest()[:6], 16)


class ToyClassFamily(Family, pipeline=ToyMixture):
    """Per condition, a two-mode Gaussian mixture with an exact posterior-mean denoiser (no network)."""

    name = "toy-class"
    condition_kind = "class"
    num_classes = 4
    default_steps = 4
    default_sampler = "heun"
    default_height = SIZE
    default_width = SIZE


class ToyPromptFamily(ToyClassFamily, pipeline=ToyPromptMixture):
    """The toy mixture conditioned on prompts (each prompt hashed to its own pair of modes)."""

    name = "toy-prompt"
    condition_kind = "prompt"
    num_classes = None


class ToyVerifier(Verifier):
    """Negative distance to the condition's mode 0: higher is better, any condition kind."""

    name = "toy-closeness"
    differentiable = True

    def __init__(self, spec=None):
        super().__init__(spec)
        self.class_world = ToyMixture()
        self.prompt_world = ToyPromptMixture()

    def score(self, images, conditions):
        targets = []
        for condition in conditions:
            world = self.class_world if condition.kind == "class" else self.prompt_world
            targets.append((_pattern(world.key(condition), 0) + 1) / 2)
        target = torch.stack(targets).to(images.device)
        return -(images - target).flatten(1).square().mean(dim=1)


@hookimpl
def noisesearch_pipelines():
    return [ToyClassFamily, ToyPromptFamily]


@hookimpl
def noisesearch_verifiers():
    return [ToyVerifier]
