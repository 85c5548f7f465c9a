"""Native denoiser adapters: the core's sampler drives each family's denoiser, so every algorithm runs, and a plain
solve (or a halving candidate continued from a kept partial solve) is what ``pipe(latents=...)`` makes."""

import json
import shutil

import numpy as np
import pytest
import torch

import noisesearch
from noisesearch.lightning.module import SearchModule
from noisesearch_plugins.testing import tiny_models

FAMILIES = {  # how each tiny pipeline is built
    "sd-ddim": lambda folder: tiny_models.save_tiny_stable_diffusion(folder, "ddim"),
    "sd-euler-v": lambda folder: tiny_models.save_tiny_stable_diffusion(folder, "euler", "v_prediction"),
    "sd-dpm": lambda folder: tiny_models.save_tiny_stable_diffusion(folder, "dpm"),
    "sdxl": tiny_models.save_tiny_sdxl,
    "sd3": tiny_models.save_tiny_sd3,
    "flux": tiny_models.save_tiny_flux,
    "pixart": tiny_models.save_tiny_pixart_sigma,
    "sana": tiny_models.save_tiny_sana,
    "dit": tiny_models.save_tiny_dit,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_sd):
    _built.update({"sd-ddim": tiny_sd("ddim"), "sd-euler-v": tiny_sd("euler", "v_prediction"),
                   "sd-dpm": tiny_sd("dpm")})  # the session's tiny SDs, built once for every module
    return tmp_path_factory.mktemp("native")


@pytest.fixture(scope="module")
def clip(tiny_clip):
    return tiny_clip


_built: dict = {}


def folder_of(root, family):
    if family not in _built:
        _built[family] = FAMILIES[family](root / family)
    return _built[family]


def load(folder):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(folder, clip, family, algorithm, budget, **settings):
    """A search from Python, as a diffusers user runs one; returns (results, module)."""
    if family == "dit":
        conditions = {"classes": [3, 207]}
        verifiers = [f"clip-zeroshot:local-dir:{clip}"]
    else:
        conditions = {"prompts": ["a red cat", "two dogs"]}
        verifiers = [f"clip:local-dir:{clip}"]
        settings = {"height": 32, "width": 32, **settings}
    module = SearchModule(pipeline=str(folder), algorithm=algorithm, budget_nfe=budget, steps=4,
                          verifiers=settings.pop("verifiers", verifiers), **settings)
    return noisesearch.search(**conditions, module=module), module


def reference(pipe, family, result, steps=4):
    """What the pipeline itself makes from the result's recorded noise (DiT: from the recorded seed)."""
    if family == "dit":
        generator = torch.Generator().manual_seed(result.noise_seed)
        return pipe([result.task.condition.class_label], generator=generator, num_inference_steps=steps,
                    output_type="pt").images[0]
    return pipe(result.task.condition.prompt, latents=result.noise[None], num_inference_steps=steps, height=32,
                width=32, output_type="pt").images[0]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_native_solve_is_what_the_pipeline_makes_from_the_recorded_noise(root, clip, family):
    folder = folder_of(root, family)
    results, module = run(folder, clip, family, "none", None, mode="native")
    assert not module.family.whole and module.describe()["mode"] == "native"
    assert module.describe()["sampler"] == ("dpm2m" if family in ("sd-dpm", "pixart") else "euler")
    pipe = load(folder)
    for result in results:
        theirs = reference(pipe, family, result)
        assert (theirs - result.image).abs().max() <= 2 / 255, family


@pytest.mark.parametrize("family", ["sd-ddim", "flux", "sd-dpm"])
def test_halving_continues_kept_partial_solves_exactly(root, clip, family):
    """Halving stops candidates at a rung, keeps their latents and continues the best: the finished candidate is
    still the pipeline's image of its initial noise (VP frame with DDIM's final alpha; flow frame from t = 1;
    DPM-Solver++(2M) continuing from the kept state's multistep history)."""
    folder = folder_of(root, family)
    per_call = 1 if family == "flux" else 2
    results, module = run(folder, clip, family, "halving", 40 * per_call)
    assert module.describe()["mode"] == "native"  # chosen without model.mode: halving needs partial solves
    pipe = load(folder)
    for result in results:
        assert result.replayable and result.candidates > 4 and result.nfe <= 40 * per_call
        assert (reference(pipe, family, result) - result.image).abs().max() <= 2 / 255


@pytest.mark.parametrize("family", ["sd-ddim", "flux"])
@pytest.mark.parametrize("algorithm,args,budget", [
    ("smc", {"k": 4}, 16), ("beam", {"width": 2, "branch": 2}, 16), ("paths", {"n": 2, "m": 2}, 88),
    ("halving", {}, 40), ("random", {}, 16),
])
def test_every_algorithm_runs_natively_and_charges_the_rows_the_denoiser_sees(root, clip, family, algorithm, args,
                                                                             budget):
    folder = folder_of(root, family)
    per_call = 1 if family == "flux" else 2  # CFG doubles the rows; FLUX's guidance is distilled
    verifiers = [f"self-supervised:clip:local-dir:{clip}"] if algorithm == "random" else None
    module = SearchModule(pipeline=str(folder), algorithm=algorithm, algorithm_args=args, budget_nfe=budget * per_call,
                          steps=4, height=32, width=32, batch_size=3,
                          **({"verifiers": verifiers} if verifiers else {"verifiers": [f"clip:local-dir:{clip}"]}))
    assert module.describe()["mode"] == "native"  # random is native here because the verifier needs previews
    module.models.load()
    rows = []
    denoiser = getattr(module.pipeline.pipe, "unet", None) or module.pipeline.pipe.transformer
    denoiser.register_forward_hook(  # after the forward: the calls that capture arguments stop before it
        lambda _, args, kwargs, output: rows.append(
            (args[0] if args else kwargs.get("sample", kwargs.get("hidden_states"))).shape[0]),
        with_kwargs=True)
    results = noisesearch.search(prompts=["a red cat", "two dogs"], module=module)
    assert sum(rows) == sum(result.nfe + result.baseline_nfe for result in results)  # the no-search baseline's too
    for result in results:
        assert 0 < result.nfe <= budget * per_call and result.candidates >= 2
        assert result.baseline_nfe == (0 if algorithm == "random" else module.run_settings.sample_nfe)
        assert result.image.shape == (3, 32, 32) and all(np.isfinite(v) for v in result.scores.values())


def test_gradient_ascent_flows_through_the_native_sampler(root, clip):
    """The verifier's gradient reaches the initial noise back through every step of the pipeline's denoiser."""
    module = SearchModule(pipeline=str(folder_of(root, "sd3")), algorithm="gradient", algorithm_args={"iterations": 3},
                          budget_nfe=3 * 4 * 2 * 4, steps=4, height=32, width=32,
                          verifiers=[f"clip:local-dir:{clip}"])
    assert module.describe()["mode"] == "native"
    module.models.load()
    backward = []
    module.pipeline.pipe.transformer.register_full_backward_hook(lambda *_: backward.append(1))
    (result,) = noisesearch.search(prompts=["a red cat"], module=module)
    assert len(backward) == 3 * 4  # 3 iterations, each back through the 4 guided denoiser calls of its solve
    assert result.candidates == 3 and result.nfe == 3 * 4 * 2 * 4 and np.isfinite(result.score)


def test_native_results_do_not_depend_on_the_batch_size(root, clip):
    folder = folder_of(root, "sd-ddim")
    runs = [run(folder, clip, "sd-ddim", "smc", 32, algorithm_args={"k": 4}, batch_size=size)[0] for size in (1, 7)]
    for a, b in zip(*runs):
        assert a.candidate == b.candidate and a.candidates == b.candidates
        assert (a.image - b.image).abs().max() <= 1e-4


def test_a_loaded_pipeline_object_runs_smc_from_python(root, clip):
    from diffusers import StableDiffusionPipeline

    class MyPipeline(StableDiffusionPipeline):  # a user's own subclass is still its family
        pass

    pipe = MyPipeline.from_pretrained(folder_of(root, "sd-ddim"))
    (result,) = noisesearch.search(prompts=["a red cat"], pipeline=pipe, algorithm="smc", algorithm_args={"k": 4},
                                   steps=4, budget_nfe=32, verifiers=[f"clip:local-dir:{clip}"])
    assert result.candidates >= 4 and result.nfe == 32 and not result.replayable


def test_each_prompt_is_encoded_once_per_native_run(root, clip):
    pipe = load(folder_of(root, "sd-ddim"))
    calls = []
    pipe.text_encoder.register_forward_pre_hook(lambda module, args: calls.append(1))
    results = noisesearch.search(prompts=["a red cat", "two dogs"], pipeline=pipe, algorithm="smc", steps=4,
                                 algorithm_args={"k": 4}, budget_nfe=32, verifiers=[f"clip:local-dir:{clip}"])
    assert len(results) == 2
    # the latent-shape and schedule probes' prompt and negative (2 + 2), then each prompt and its negative once
    # (2 x 2): never once per step, per level or per batch of candidates
    assert len(calls) == 8


@pytest.mark.parametrize("family,algorithm", [("sd-ddim", "smc"), ("sd-dpm", "halving")])
def test_a_truncated_native_journal_resumes_to_the_same_results(in_process, root, clip, tmp_path, family,
                                                              algorithm):
    """Kept states (and DPM-Solver's history with them) come back from the journal as they were computed."""
    folder = folder_of(root, family)
    args = ["--model.pipeline", str(folder), "--model.verifiers", json.dumps([f"clip:local-dir:{clip}"]),
            "--data.prompts", '["a red cat", "two dogs"]', "--model.steps", "4", "--model.algorithm", algorithm,
            "--model.algorithm_args", "{k: 4}" if algorithm == "smc" else "{}", "--model.budget_nfe", "64",
            "--model.batch_size", "3"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = in_process("predict", *args, "--out", str(whole))
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.copytree(whole, cut)  # the same deterministic run, then cut short: resume writes into its own folder
    journal = cut / "journal" / "rank0.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "candidate"]
    journal.write_text("".join(lines[: candidates[len(candidates) // 2]]))  # as if killed halfway
    (cut / "summary.json").unlink()
    done = in_process("resume", str(cut))
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (json.loads((out / "summary.json").read_text()) for out in (whole, cut))
    assert [(r["candidate"], r["scores"]) for r in first["results"]] == \
        [(r["candidate"], r["scores"]) for r in second["results"]]
    assert first["mode"] == "native"


def test_modes_are_chosen_and_refused_cleanly(in_process, root, clip, tmp_path):
    sd = str(folder_of(root, "sd-ddim"))
    common = ["--model.verifiers", json.dumps([f"clip:local-dir:{clip}"]), "--data.prompts", '["a red cat"]',
              "--model.steps", "2", "--overwrite", "true"]
    done = in_process("predict", "--model.pipeline", sd, *common, "--model.budget_nfe", "8",
                      "--out", str(tmp_path / "r"))
    assert done.returncode == 0 and json.loads((tmp_path / "r" / "summary.json").read_text())["mode"] == "whole"
    video = tiny_models.save_tiny_text_to_video(tmp_path / "video")
    cases = {
        (str(video), "--model.mode", "native"): "has no native denoiser adapter",
        (str(folder_of(root, "flux")), "--model.sampler", "heun", "--model.algorithm", "smc"): "heun cannot start",
        (sd, "--model.mode", "whole", "--model.algorithm", "smc"): "model.mode native",
        (sd, "--model.mode", "sideways"): "model.mode",
    }
    done = in_process("predict", "--model.mode", "whole", "--data.classes", "3", "--out", str(tmp_path / "d"))
    assert done.returncode == 2 and "has no whole-pipeline mode" in done.stderr, done.stderr
    for (pipeline, *args), message in cases.items():
        done = in_process("predict", "--model.pipeline", pipeline, *common, *args, "--out", str(tmp_path / "x"))
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


@pytest.mark.parametrize("algorithm,budget", [("random", 16), ("halving", 40)])
def test_model_cpu_offload_gives_the_same_search(root, clip, algorithm, budget):
    """diffusers' offload hooks (accelerate) run for real here with the CPU as the accelerator: the parts leave
    Lightning's module tree, the adapter's captured calls keep the hooks, and the search is unchanged. What it
    saves (GPU memory) needs a GPU to measure."""
    folder = folder_of(root, "sd-ddim")
    runs = [run(folder, clip, "sd-ddim", algorithm, budget * 2, offload=offload) for offload in (False, True)]
    (plain, _), (offloaded, module) = runs
    pipe = module.pipeline.pipe
    assert module.describe()["offload"] and len(list(module.pipeline.parameters())) == 0
    assert all("_hf_hook" in part.__dict__ for part in (pipe.unet, pipe.vae, pipe.text_encoder))
    for a, b in zip(plain, offloaded):
        assert (a.candidate, a.nfe) == (b.candidate, b.nfe) and (a.image - b.image).abs().max() <= 1e-5


def test_offload_is_refused_where_it_does_not_apply(in_process, tmp_path):
    done = in_process("predict", "--model.offload", "true", "--data.classes", "3", "--out", str(tmp_path / "digits"))
    assert done.returncode == 2 and "model.offload applies to diffusers pipelines" in done.stderr


@pytest.mark.parametrize("family", ["sd-ddim", "flux"])
def test_bf16_runs_natively_on_the_schedules_own_levels(root, clip, family):
    """Noise levels rounded to bf16 on their way to the denoiser still name the scheduler's levels (and timesteps),
    and the images stay those of fp32 up to bf16's rounding."""
    folder = folder_of(root, family)
    plain, _ = run(folder, clip, family, "none", None, mode="native")
    rounded, module = run(folder, clip, family, "none", None, mode="native", dtype="bf16")
    schedule = module.pipeline.schedule
    for level in schedule.levels.tolist()[:-1]:
        assert schedule.match(float(torch.tensor(level, dtype=torch.bfloat16)), 4 * torch.finfo(torch.bfloat16).eps) \
            == level
    for a, b in zip(plain, rounded):
        assert (a.image - b.image).abs().mean() < 0.02


def test_two_ddp_processes_give_the_one_process_results(cli, in_process, root, clip, tmp_path):
    """Lightning DDP (gloo, 2 CPU processes) sharding each SMC round's candidates of a flow model across ranks."""
    folder = folder_of(root, "sd3")
    rows = []
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    for devices, run_with, trainer in (("1", in_process, []), ("2", cli, ddp)):  # DDP starts processes: a shell
        out = tmp_path / devices
        done = run_with("predict", "--model.pipeline", str(folder), "--model.verifiers",
                        json.dumps([f"clip:local-dir:{clip}"]), "--data.prompts",
                        '["a red cat", "two dogs", "a blue car"]', "--model.steps", "4", "--model.algorithm", "smc",
                        "--model.algorithm_args", "{k: 4}", "--model.budget_nfe", "32", "--model.shard", "candidates",
                        *trainer, "--out", str(out))
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["mode"] == "native"
        rows.append([(r["candidate"], r["nfe"], round(r["scores"]["clip"], 3)) for r in summary["results"]] +
                    [summary["nfe_used"]])
    assert rows[0] == rows[1]


def test_encodings_of_earlier_batches_are_let_go(root, clip):
    """A run of many prompts holds the encodings of one batch of conditions, not of every prompt it has seen."""
    module = SearchModule(pipeline=str(folder_of(root, "sd-ddim")), algorithm="smc", algorithm_args={"k": 2},
                          budget_nfe=16, steps=4, verifiers=[f"clip:local-dir:{clip}"])
    for batch in (["a red cat", "two dogs"], ["a blue car"]):
        noisesearch.search(prompts=batch, module=module)
        assert {c.prompt for c in module.pipeline.rows_cache} == set(batch)
        assert {prompt for prompt, _ in module.pipeline.inner._encoded} == set(batch)
