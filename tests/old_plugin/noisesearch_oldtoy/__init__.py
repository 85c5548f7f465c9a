"""A plugin written against noisesearch's plugin API 1: a pipeline family as a Pipeline class with its description in
class attributes, the run's guidance handed to every denoise call, the run's settings to a five-argument configure,
a whole-pipeline family whose generate takes them too; a verifier and an algorithm."""

from dataclasses import dataclass

import torch

from noisesearch.plugin import Pipeline, Proposal, SearchAlgorithm, Verifier, hookimpl, karras_sigmas

SIZE = 8


def pattern(label: int) -> torch.Tensor:
    return torch.rand(1, SIZE, SIZE, generator=torch.Generator().manual_seed(100 + label)) * 2 - 1


class OldToy(Pipeline):
    """A one-mode Gaussian world per class (API 1): exact posterior mean, scaled by the guidance."""

    name = "old-toy"
    condition_kind = "class"
    num_classes = 4
    default_steps = 4
    default_sampler = "heun"
    default_height = SIZE
    default_width = SIZE

    def __init__(self, source=None):
        super().__init__(source)
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)
        self.configured = None

    def configure(self, steps, guidance, height, width, sampler):
        self.configured = (steps, guidance, height, width, sampler)

    def latent_shape(self, height, width):
        return (1, height, width)

    def sigmas(self, steps):
        return karras_sigmas(steps, 0.01, 20.0)

    def encode(self, conditions):
        return torch.stack([pattern(c.class_label) for c in conditions])

    def denoise(self, x, sigma, cond, guidance):
        sigma = sigma.view(-1, 1, 1, 1)
        x0 = cond + 0.09 / (0.09 + sigma**2) * (x - cond)
        return x0 if guidance == 1.0 else guidance * x0 - (guidance - 1.0) * x0.mean()

    def decode(self, x0):
        return ((x0 + 1) / 2).clamp(0, 1)


class OldWholeToy(OldToy):
    """The same world run whole from initial noises (API 1's generate took the run's settings)."""

    name = "old-whole-toy"
    whole = True

    def generate(self, noises, conditions, steps, guidance, height, width, specs):
        from noisesearch.plugin import sampler_class

        sigmas = self.sigmas(steps)
        cond = self.encode(list(conditions))
        x = sampler_class("euler")().solve(lambda z, s, c: self.denoise(z, s, c, guidance), noises * sigmas[0],
                                           sigmas, cond)
        return self.decode(x)


class OldCloseness(Verifier):
    """Negative distance to the class's pattern (unchanged since API 1)."""

    name = "old-closeness"
    condition_kinds = ("class",)

    def score(self, images, conditions):
        targets = torch.stack([(pattern(c.class_label) + 1) / 2 for c in conditions]).to(images.device)
        return -(images - targets).flatten(1).square().mean(dim=1)


class OldBestOf(SearchAlgorithm):
    """Best-of-N in rounds of two (unchanged since API 1)."""

    name = "old-best-of"
    initial_noises_only = True

    @dataclass(frozen=True)
    class Params:
        n: int = 6

    def __init__(self, params, context):
        super().__init__(params, context)
        self.asked = 0

    def ask(self):
        count = min(2, self.params.n - self.asked, self.context.max_samples - self.asked)
        ids = range(self.asked, self.asked + max(count, 0))
        self.asked += len(ids)
        return [Proposal(i, self.context.fresh_noise(i)) for i in ids]

    def tell(self, outcomes):
        pass


@hookimpl
def noisesearch_pipelines():
    return [OldToy, OldWholeToy]


@hookimpl
def noisesearch_verifiers():
    return [OldCloseness]


@hookimpl
def noisesearch_algorithms():
    return [OldBestOf]
