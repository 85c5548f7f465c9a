"""Latent frames: the core's Euler step in a family's frame is that family's scheduler step, and re-noising and
ancestral steps keep the frame's marginals."""

import math

import pytest
import torch

from noisesearch.sampling.frames import EDM, FlowMatching, VariancePreserving
from noisesearch.sampling.schedule import ancestral_step, renoise
from helpers import solve


def vp_sigma(alpha_cumprod: float) -> float:
    return math.sqrt((1 - alpha_cumprod) / alpha_cumprod)


def test_euler_in_the_vp_frame_is_ddims_step_down_to_its_final_alpha():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    scheduler.set_timesteps(5)
    alphas = scheduler.alphas_cumprod.double()
    frame = VariancePreserving(floor=vp_sigma(float(scheduler.final_alpha_cumprod)))
    timesteps = scheduler.timesteps.tolist()
    levels = [vp_sigma(float(alphas[t])) for t in timesteps] + [0.0]
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(2, 4, 8, 8, generator=generator, dtype=torch.float64)
    mine = z.clone()
    for i, t in enumerate(timesteps):
        eps = torch.randn(z.shape, generator=generator, dtype=torch.float64)  # any model's prediction
        z = scheduler.step(eps, t, z, eta=0.0).prev_sample

        def denoiser(x, sigma, cond, eps=eps, t=t):  # the same prediction, read as x0
            return (x - (1 - alphas[t]).sqrt() * eps) / alphas[t].sqrt()

        mine = solve(denoiser, mine, torch.tensor(levels[i:i + 2], dtype=torch.float64), None, "euler", frame=frame)
    assert (mine - z).abs().max() < 1e-5  # DDIM keeps its alphas in float32
    assert frame.coefficients(0.0)[1] > 0.02  # DDIM's last latent is still slightly noisy, and so is ours


def test_euler_in_the_flow_frame_is_flowmatcheulers_step_from_pure_noise():
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(4)
    ts = scheduler.sigmas.double().tolist()
    assert ts[0] == 1.0 and ts[-1] == 0.0
    levels = torch.tensor([math.inf if t == 1.0 else t / (1 - t) for t in ts], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(2, 16, 4, 4, generator=generator, dtype=torch.float64)
    mine = z.clone()
    for i, timestep in enumerate(scheduler.timesteps):
        velocity = torch.randn(z.shape, generator=generator, dtype=torch.float64)
        z = scheduler.step(velocity, timestep, z).prev_sample

        def denoiser(x, sigma, cond, velocity=velocity, t=ts[i]):
            return x - t * velocity

        mine = solve(denoiser, mine, levels[i:i + 2], None, "euler", frame=FlowMatching())
    assert (mine - z).abs().max() < 1e-6


def test_dpm2m_in_the_vp_frame_is_dpm_solver_multisteps_step():
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    scheduler.set_timesteps(6)
    levels = scheduler.sigmas.double()
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(2, 4, 8, 8, generator=generator, dtype=torch.float64)
    predictions = [torch.randn(z.shape, generator=generator, dtype=torch.float64) for _ in scheduler.timesteps]
    frame = VariancePreserving()
    calls = iter(range(len(predictions)))

    def denoiser(x, sigma, cond):  # the scheduler's epsilon, read as x0 at this level
        a, b = frame.coefficients(float(sigma[0]))
        return (x - b * predictions[next(calls)]) / a

    mine = solve(denoiser, z.clone(), levels, None, "dpm2m", frame=frame)
    for timestep, eps in zip(scheduler.timesteps, predictions):
        z = scheduler.step(eps, timestep, z).prev_sample
    assert (mine - z).abs().max() < 1e-5


@pytest.mark.parametrize("flow", [True, False], ids=["wan-flow", "vp"])
def test_unipc_is_unipc_multisteps_step(flow):
    """Wan's UniPC (flow sigmas, shift 3, flow prediction) and the VP default, predictions drawn at random per call so
    that every coefficient of the predictor and of both correctors shows."""
    from diffusers import UniPCMultistepScheduler

    if flow:
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
        frame = FlowMatching()
    else:
        scheduler = UniPCMultistepScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        frame = VariancePreserving()
    scheduler.set_timesteps(7)
    levels = scheduler.sigmas.double()
    if flow:  # the scheduler's t as the core's sigma
        levels = levels / (1 - levels)
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(2, 4, 8, 8, generator=generator, dtype=torch.float64)
    outputs = [torch.randn(z.shape, generator=generator, dtype=torch.float64) for _ in scheduler.timesteps]
    calls = iter(range(len(outputs)))

    def denoiser(x, sigma, cond):  # the scheduler's model output (velocity or epsilon), read as x0 at this state
        a, b = frame.coefficients(float(sigma[0]))
        return x - b * outputs[next(calls)] if flow else (x - b * outputs[next(calls)]) / a

    mine = solve(denoiser, z.clone(), levels, None, "unipc", frame=frame)
    for timestep, output in zip(scheduler.timesteps, outputs):
        z = scheduler.step(output, timestep, z).prev_sample
    assert (mine - z).abs().max() < 1e-5


@pytest.mark.parametrize("frame", [EDM, VariancePreserving(), FlowMatching()], ids=lambda f: type(f).__name__)
def test_renoising_and_ancestral_steps_land_on_the_frames_marginal(frame):
    """From the clean sample's latent at one level, both give z = a x0 + b eps at the next (b eps Gaussian)."""
    generator = torch.Generator().manual_seed(2)
    x0 = torch.full((400_000,), 0.7, dtype=torch.float64)
    low, high = 0.5, 2.0
    a_low, b_low = frame.coefficients(low)
    z_low = a_low * x0 + b_low * torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    a_high, b_high = frame.coefficients(high)
    up = renoise(z_low, low, high, torch.randn(x0.shape, generator=generator, dtype=torch.float64), frame)
    assert ((up - a_high * x0).mean()).abs() < 0.01 and (up - a_high * x0).std() == pytest.approx(b_high, rel=0.01)
    z_high = a_high * x0 + b_high * torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    down = ancestral_step(lambda x, s, c: x0, z_high, high, low, None,
                          torch.randn(x0.shape, generator=generator, dtype=torch.float64), frame=frame)
    assert (down - a_low * x0).std() == pytest.approx(b_low, rel=0.01)


def test_heun_refuses_to_start_at_an_infinite_level():
    with pytest.raises(ValueError, match="infinite"):
        solve(lambda x, s, c: x * 0, torch.ones(1, 1), torch.tensor([math.inf, 1.0, 0.0]), None, "heun",
              frame=FlowMatching())
