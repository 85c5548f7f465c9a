"""No host synchronisation inside a denoising step (#26): counted with a CUDA-less stand-in, a tensor subclass
whose values, read on the host (``item``, ``tolist``, ``float``...), count as a wait for the device."""

import torch

from noisesearch.conditions import Condition
from noisesearch.engine.check import check
from noisesearch.engine.compiled import padded
from noisesearch.engine.plans import Planner
from noisesearch.run.models import Models
from noisesearch.run.settings import build
from noisesearch.sampling.denoiser import CountingDenoiser, level_batch, levels_of

READS = {"item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy", "cpu", "__array__"}


class OnDevice(torch.Tensor):
    """A CPU tensor standing in for one on an accelerator; what derives from it is on the device too."""

    reads: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in READS:
            cls.reads.append(name)
        return super().__torch_function__(func, types, args, kwargs)


def on_device(tensor):
    return tensor.as_subclass(OnDevice) if isinstance(tensor, torch.Tensor) else \
        {key: on_device(value) for key, value in tensor.items()}


def planner_of(pipeline_spec, prompts, **settings):
    run = build(pipeline=pipeline_spec, algorithm="smc", **settings)
    models = Models(run)
    models.load()
    schedule = check(models.pipeline, list(models.verifiers), run.search)
    pipeline = models.pipeline
    denoiser = CountingDenoiser(pipeline.denoise, schedule.nfe_per_call)
    planner = Planner(pipeline, denoiser, schedule.sigmas, run.search.sampler,
                      preview_level=float(schedule.sigmas[len(schedule.sigmas) // 2]))
    encoded = pipeline.encode([Condition(prompt=p) for p in prompts])
    cond = on_device(pipeline.select(encoded, torch.arange(len(prompts))))
    noises = on_device(torch.randn(len(prompts), *schedule.shape))
    return planner, noises, cond, schedule


def steps_read(planner, noises, cond, schedule):
    """Host reads of device values while a chunk is denoised: a full solve, then an ancestral first step stopped
    at an interior level with its x0-preview (SMC's and beam's plan)."""
    OnDevice.reads = []
    with torch.no_grad():
        planner.run(None, noises, cond, decode=False)
        planner.run(None, noises, cond, stochastic=True, stop=float(schedule.sigmas[-3]), decode=False)
    return OnDevice.reads


def test_the_stand_in_counts_a_read_back():
    sigma = torch.full((3,), 2.0).as_subclass(OnDevice)
    OnDevice.reads = []
    levels_of(sigma)  # no host copy: read back from the device
    assert OnDevice.reads == ["tolist"]
    OnDevice.reads = []
    batch = level_batch(torch.zeros(3, 2).as_subclass(OnDevice), 2.0)
    assert levels_of(padded(batch, 5)) == [2.0] * 5 and OnDevice.reads == []


def test_no_denoising_step_waits_for_the_device_in_the_embedded_world():
    planner, noises, cond, schedule = planner_of("shapes", ["a red circle", "two blue squares"], guidance=3.0)
    assert steps_read(planner, noises, cond, schedule) == []


def test_no_denoising_step_waits_for_the_device_in_a_native_diffusers_pipeline(tiny_sd, tiny_clip):
    folder, clip = tiny_sd("euler"), tiny_clip
    planner, noises, cond, schedule = planner_of(str(folder), ["a red cat", "two dogs"], steps=4, height=32, width=32,
                                                 guidance=2.0, verifiers=[f"clip:local-dir:{clip}"])
    assert steps_read(planner, noises, cond, schedule) == []
