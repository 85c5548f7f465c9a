"""Samplers as objects: one table, one signature, each owning its call count and multistep history."""

import pytest
import torch

from noisesearch.sampling.denoiser import CountingDenoiser
from noisesearch.sampling.samplers import SAMPLERS, DPMSolver2M, Sampler, sampler_class
from noisesearch.sampling.schedule import karras_sigmas, sigmas_between
from helpers import solve


def toy_denoiser(x, sigma, cond):
    """A smooth x0-predictor with a nonlinearity, so multistep history matters."""
    return torch.tanh(x / (1 + sigma[:, None] ** 2) ** 0.5)


def test_the_table_holds_every_sampler_by_its_name():
    assert set(SAMPLERS) == {"euler", "heun", "dpm2m", "unipc"}
    assert all(issubclass(cls, Sampler) and sampler_class(name) is cls for name, cls in SAMPLERS.items())
    with pytest.raises(ValueError, match="unknown sampler 'ddpm'"):
        sampler_class("ddpm")


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("stop", [0.0, 0.5])
def test_a_sampler_counts_the_calls_its_solve_makes(name, stop):
    sigmas = karras_sigmas(6, 0.02, 20.0)
    segment = sigmas_between(sigmas, float(sigmas[1]), stop)
    counter = CountingDenoiser(toy_denoiser)
    SAMPLERS[name]().solve(counter, torch.randn(3, 4), segment, None)
    assert counter.nfe == 3 * SAMPLERS[name].calls(segment)


@pytest.mark.parametrize("name", ["dpm2m", "unipc"])
@pytest.mark.parametrize("at", [1, 2, 4])
def test_a_stopped_multistep_solve_continues_from_its_history_as_if_never_stopped(name, at):
    sigmas = karras_sigmas(8, 0.02, 20.0)
    x = torch.randn(2, 5) * 20
    whole = solve(toy_denoiser, x, sigmas, None, name)
    first = SAMPLERS[name]()
    middle = first.solve(toy_denoiser, x, sigmas[:at + 1], None)
    rest = SAMPLERS[name](history=first.history).solve(toy_denoiser, middle, sigmas[at:], None)
    forgetful = SAMPLERS[name]().solve(toy_denoiser, middle, sigmas[at:], None)
    assert torch.allclose(rest, whole, atol=1e-6)
    assert not torch.allclose(forgetful, whole, atol=1e-4)


def test_single_step_samplers_keep_no_history():
    solver = SAMPLERS["heun"](history=(1.0, torch.zeros(1)))
    solver.solve(toy_denoiser, torch.randn(1, 2), karras_sigmas(3, 0.02, 20.0), None)
    assert solver.history is None
