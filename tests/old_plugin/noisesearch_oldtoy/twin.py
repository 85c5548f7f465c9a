"""The old plugin's world written for plugin API 3: a Family with the description, a Pipeline that reads the run's
settings from the RunSpec ``configure`` hands over once."""

import torch

from noisesearch.plugin import Family, Pipeline, hookimpl, karras_sigmas, sampler_class

from . import SIZE, OldBestOf, OldCloseness, pattern

NOISESEARCH_API = 3


class NewToy(Pipeline):
    """The one-mode Gaussian world, API 3."""

    def __init__(self, source=None):
        super().__init__(source)
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)

    def latent_shape(self, height, width):
        return (1, height, width)

    def sigmas(self, steps):
        return karras_sigmas(steps, 0.01, 20.0)

    def encode(self, conditions):
        return torch.stack([pattern(c.class_label) for c in conditions])

    def denoise(self, x, sigma, cond):
        guidance = self.run.guidance
        sigma = sigma.view(-1, 1, 1, 1)
        x0 = cond + 0.09 / (0.09 + sigma**2) * (x - cond)
        return x0 if guidance == 1.0 else guidance * x0 - (guidance - 1.0) * x0.mean()

    def decode(self, x0):
        return ((x0 + 1) / 2).clamp(0, 1)


class NewWholeToy(NewToy):
    def generate(self, noises, conditions, specs):
        sigmas = self.sigmas(self.run.steps)
        cond = self.encode(list(conditions))
        x = sampler_class("euler")().solve(self.denoise, noises * sigmas[0], sigmas, cond)
        return self.decode(x)


class NewToyFamily(Family, pipeline=NewToy):
    """The one-mode Gaussian world per class (API 3)."""

    name = "new-toy"
    condition_kind = "class"
    num_classes = 4
    default_steps = 4
    default_sampler = "heun"
    default_height = SIZE
    default_width = SIZE


class NewWholeToyFamily(NewToyFamily, pipeline=NewWholeToy):
    """The same world run whole (API 3)."""

    name = "new-whole-toy"
    whole = True


class NewCloseness(OldCloseness):
    name = "new-closeness"


class NewBestOf(OldBestOf):
    name = "new-best-of"


@hookimpl
def noisesearch_pipelines():
    return [NewToyFamily, NewWholeToyFamily]


@hookimpl
def noisesearch_verifiers():
    return [NewCloseness]


@hookimpl
def noisesearch_algorithms():
    return [NewBestOf]
