"""Samplers against an exact denoiser: Gaussian data N(0, s^2) has D(x, sigma) = x s^2 / (s^2 + sigma^2)."""

import math

import pytest
import torch

from noisesearch.sampling.denoiser import CountingDenoiser
from noisesearch.sampling.samplers import predict_x0, sampler_class
from noisesearch.sampling.schedule import karras_sigmas, renoise, sigmas_between
from helpers import solve

S = 0.5


def gaussian_denoiser(x, sigma, cond):
    return x * S**2 / (S**2 + sigma.view(-1, *[1] * (x.dim() - 1)) ** 2)


def exact(x_start, sigma_start, sigma_end):
    """The ODE's exact flow for Gaussian data: x scales with sqrt(s^2 + sigma^2)."""
    return x_start * math.sqrt(S**2 + sigma_end**2) / math.sqrt(S**2 + sigma_start**2)


def test_karras_schedule_ends_at_zero_and_decreases():
    sigmas = karras_sigmas(10, 0.002, 80.0)
    assert len(sigmas) == 11 and sigmas[-1] == 0 and sigmas[0] == pytest.approx(80.0)
    assert torch.all(sigmas[:-1] > sigmas[1:])


@pytest.mark.parametrize("sampler,tolerance", [("euler", 0.15), ("heun", 0.03), ("dpm2m", 0.03)])
def test_solve_matches_exact_flow(sampler, tolerance):
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0)) * 80
    sigmas = karras_sigmas(32, 0.002, 80.0)
    out = solve(gaussian_denoiser, x, sigmas, None, sampler)
    target = exact(x, 80.0, 0.0)
    assert (out - target).abs().max() / target.abs().max() < tolerance


def test_heun_is_second_order_and_euler_first():
    x = torch.ones(1, 1, 2, 2) * 10
    target = exact(x, 10.0, 0.0)

    def error(sampler, steps):
        return (solve(gaussian_denoiser, x, karras_sigmas(steps, 0.002, 10.0), None, sampler) - target).abs().max()

    assert error("heun", 16) / error("heun", 32) > 3.5
    assert 1.5 < error("euler", 16) / error("euler", 32) < 2.5
    assert error("heun", 32) < error("euler", 32) / 5
    assert error("dpm2m", 16) / error("dpm2m", 32) > 3.5  # DPM-Solver++(2M): second order at one call a step


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpm2m"])
def test_nfe_counter_matches_solve_calls(sampler):
    counter = CountingDenoiser(gaussian_denoiser, nfe_per_call=2)
    solve(counter, torch.randn(3, 1, 2, 2), karras_sigmas(7, 0.01, 5.0), None, sampler)
    assert counter.nfe == 3 * 2 * sampler_class(sampler).solve_calls(7)


def test_partial_solves_compose_to_the_full_solve():
    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 20
    sigmas = karras_sigmas(12, 0.002, 20.0)
    middle = float(sigmas[5])
    full = solve(gaussian_denoiser, x, sigmas, None, "heun")
    half = solve(gaussian_denoiser, x, sigmas_between(sigmas, 20.0, middle), None, "heun")
    rest = solve(gaussian_denoiser, half, sigmas_between(sigmas, middle, 0.0), None, "heun")
    assert torch.allclose(full, rest, atol=1e-5)


def test_renoise_adds_the_missing_variance():
    clean = torch.zeros(200_000)
    noisy = renoise(clean, 0.3, 1.2, torch.randn(200_000, generator=torch.Generator().manual_seed(2)))
    assert noisy.std().item() == pytest.approx(math.sqrt(1.2**2 - 0.3**2), rel=0.01)
    with pytest.raises(ValueError):
        renoise(clean, 1.0, 0.5, clean)


def test_preview_is_one_denoiser_call():
    counter = CountingDenoiser(gaussian_denoiser)
    x = torch.ones(5, 1, 2, 2)
    out = predict_x0(counter, x, torch.tensor(0.4), None)
    assert counter.nfe == 5 and torch.allclose(out, x * S**2 / (S**2 + 0.16))


def test_solve_records_every_prediction_for_previews():
    seen = []
    solve(gaussian_denoiser, torch.ones(1, 1, 1, 1), karras_sigmas(5, 0.01, 3.0), None, "heun",
          on_step=lambda step: seen.append(step.sigma))
    assert len(seen) == 5 and seen[0] == pytest.approx(3.0)


def test_dpm2m_partial_solves_compose_when_the_history_is_handed_on():
    x = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(4)) * 20
    sigmas = karras_sigmas(9, 0.002, 20.0)
    middle = float(sigmas[4])
    full = solve(gaussian_denoiser, x, sigmas, None, "dpm2m")
    seen = []
    half = solve(gaussian_denoiser, x, sigmas_between(sigmas, 20.0, middle), None, "dpm2m",
                 on_step=lambda step: seen.append((step.sigma, step.x0)))
    rest = solve(gaussian_denoiser, half, sigmas_between(sigmas, middle, 0.0), None, "dpm2m", earlier=seen[-1])
    restarted = solve(gaussian_denoiser, half, sigmas_between(sigmas, middle, 0.0), None, "dpm2m")
    assert (rest - full).abs().max() < 1e-4
    assert (restarted - full).abs().max() > 1e-3  # without the history the first step is first-order
