"""Whole-pipeline mode: any diffusers pipeline taking latents=, searched over initial noises with exact parity."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import noisesearch
from noisesearch_plugins.testing import tiny_models
from noisesearch_plugins.testing.tiny_models import save_tiny_dit, save_tiny_stable_diffusion


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_sd, tiny_clip):
    root = tmp_path_factory.mktemp("diffusers")
    return {"ddim": tiny_sd("ddim"), "euler": tiny_sd("euler", "v_prediction"), "dpm": tiny_sd("dpm"),
            "dit": save_tiny_dit(root / "dit"), "clip": tiny_clip}


def regenerate(folder, summary, record):
    """What the pipeline itself makes from the recorded noise, with the recorded settings."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    noise = load_file(record["noise"])["noise"][None]
    return pipe(record["condition"]["prompt"], latents=noise, num_inference_steps=summary["steps"],
                guidance_scale=summary["guidance"], height=summary["height"], width=summary["width"],
                output_type="np").images[0]


def predict(noisesearch, folders, scheduler, out, *extra):
    return noisesearch("predict", "--model.pipeline", str(folders[scheduler]), "--model.verifiers",
                       json.dumps([f"clip:local-dir:{folders['clip']}"]), "--data.prompts",
                       '["a red cat", "two dogs"]', "--model.steps", "3", "--out", str(out), *extra)


@pytest.mark.parametrize("scheduler,algorithm", [("ddim", "none"), ("ddim", "random"), ("euler", "zero-order"),
                                                 ("dpm", "random")])
def test_the_chosen_image_is_what_the_pipeline_makes_from_the_recorded_noise(in_process, folders, tmp_path,
                                                                             scheduler, algorithm):
    out = tmp_path / "run"
    budget = {"none": 6, "random": 24, "zero-order": 42}[algorithm]
    done = predict(in_process, folders, scheduler, out, "--model.algorithm", algorithm, "--model.budget_nfe",
                   str(budget), *(["--model.algorithm_args", "{n: 2}"] if algorithm == "zero-order" else []))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scheduler"] == {"ddim": "DDIMScheduler", "euler": "EulerDiscreteScheduler",
                                    "dpm": "DPMSolverMultistepScheduler"}[scheduler]
    assert summary["sample_nfe"] == 6 and summary["height"] == 32  # 3 steps x 2 (CFG at 7.5); the unet's size
    for record in summary["results"]:
        assert record["candidates"] == budget // 6 and record["nfe"] == budget
        record["noise"] = str(out / record["noise"])
        mine = np.asarray(Image.open(out / record["image"]), dtype=np.float32) / 255
        assert np.abs(regenerate(folders[scheduler], summary, record) - mine).max() <= 2 / 255


def test_results_do_not_depend_on_the_batch_size(in_process, folders, tmp_path):
    runs = []
    for size in (1, 8):
        out = tmp_path / f"b{size}"
        done = predict(in_process, folders, "ddim", out, "--model.batch_size", str(size), "--model.budget_nfe", "30")
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads((out / "summary.json").read_text())["results"])
    assert [r["candidate"] for r in runs[0]] == [r["candidate"] for r in runs[1]]
    for a, b in zip(*runs):
        assert a["scores"]["clip"] == pytest.approx(b["scores"]["clip"], abs=1e-3)


def test_what_whole_pipeline_mode_cannot_do_is_refused_cleanly(in_process, folders, tmp_path):
    cases = {
        ("--model.algorithm", "halving"): "needs partial solves",
        ("--model.algorithm", "smc"): "does not offer",
        ("--model.algorithm", "gradient"): "needs gradients through the sampler",
        ("--model.verifiers", '["self-supervised:digits-classifier"]'): "needs x0-previews",
        ("--model.sampler", "heun"): "model.sampler does not apply",
        ("--model.height", "36"): "multiples of 8",
    }
    for args, message in cases.items():
        done = predict(in_process, folders, "ddim", tmp_path / "x", "--model.mode", "whole", *args, "--overwrite", "true")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    done = in_process("predict", "--model.pipeline", str(folders["ddim"]), "--data.classes", "3", "--out",
                   str(tmp_path / "y"))
    assert done.returncode == 2 and "is prompt-conditional and got a class" in done.stderr


def test_folders_and_hub_ids_that_are_no_usable_pipeline_fail_cleanly(in_process, tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "model_index.json").write_text('{"_class_name": "NoSuchPipeline"}')
    done = in_process("predict", "--model.pipeline", str(tmp_path / "odd"), "--data.prompts", '["x"]',
                   "--out", str(tmp_path / "a"))
    assert done.returncode == 2 and "NoSuchPipeline" in done.stderr
    (tmp_path / "ddpm").mkdir()
    (tmp_path / "ddpm" / "model_index.json").write_text('{"_class_name": "DDPMPipeline"}')
    done = in_process("predict", "--model.pipeline", str(tmp_path / "ddpm"), "--out", str(tmp_path / "b"))
    assert done.returncode == 2 and "DDPMPipeline takes no latents=" in done.stderr
    done = in_process("predict", "--model.pipeline", "nobody/no-such-pipeline", "--data.prompts", '["x"]',
                   "--out", str(tmp_path / "c"))
    assert done.returncode == 2 and "from the hub" in done.stderr and "Traceback" not in done.stderr


def test_a_loaded_pipeline_object_is_searched_from_python(folders):
    import noisesearch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folders["ddim"])
    results = noisesearch.search(prompts=["a red cat"], pipeline=pipe, steps=3, budget_nfe=18,
                                 verifiers=[f"clip:local-dir:{folders['clip']}"])
    (result,) = results
    assert result.candidates == 3 and result.nfe == 18
    pipe.set_progress_bar_config(disable=True)
    again = pipe("a red cat", latents=result.noise[None], num_inference_steps=3, output_type="pt").images[0]
    assert (again - result.image).abs().max() <= 1e-4


def test_dit_draws_exactly_the_recorded_noise_from_the_recorded_seed(in_process, folders, tmp_path):
    from diffusers import DiTPipeline

    out = tmp_path / "dit"
    done = in_process("predict", "--model.pipeline", str(folders["dit"]), "--data.classes", "1,207",
                      "--model.steps", "4", "--model.budget_nfe", "24", "--model.verifiers",
                      json.dumps([f"clip-zeroshot:local-dir:{folders['clip']}"]), "--model.mode", "whole",
                      "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sample_nfe"] == 8 and summary["guidance"] == 4.0 and summary["height"] == 32  # CFG doubles
    pipe = DiTPipeline.from_pretrained(folders["dit"])
    pipe.set_progress_bar_config(disable=True)
    for record in summary["results"]:
        assert record["candidates"] == 3
        seed = record["noise_seed"]
        noise = load_file(out / record["noise"])["noise"]
        assert torch.equal(noise, torch.randn(noise.shape, generator=torch.Generator().manual_seed(seed)))
        theirs = pipe([record["condition"]["class_label"]], generator=torch.Generator().manual_seed(seed),
                      num_inference_steps=4, guidance_scale=4.0, output_type="np").images[0]
        mine = np.asarray(Image.open(out / record["image"]), dtype=np.float32) / 255
        assert np.abs(theirs - mine).max() <= 2 / 255
    for args, message in {("--model.algorithm", "zero-order", "--model.budget_nfe", "48", "--model.mode", "whole"):
                          "only algorithms whose",
                          ("--model.height", "64"): "32x32 images only",
                          ("--data.classes", "1000"): "out of range"}.items():
        done = in_process("predict", "--model.pipeline", str(folders["dit"]), "--model.steps", "4", *args,
                       "--model.verifiers", json.dumps([f"clip-zeroshot:local-dir:{folders['clip']}"]),
                       "--out", str(tmp_path / "bad"), "--overwrite", "true")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def test_bf16_through_lightning_precision_or_the_module(in_process, folders, tmp_path):
    for args in (["--trainer.precision", "bf16-true"], ["--model.dtype", "bf16"]):
        out = tmp_path / args[0].split(".")[-1]
        done = predict(in_process, folders, "ddim", out, *args, "--model.budget_nfe", "12")
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads((out / "summary.json").read_text())
        assert all(np.isfinite(r["scores"]["clip"]) for r in summary["results"])


@pytest.mark.parametrize("scheduler", ["ddim", "dpm", "heun"])
def test_nfes_charged_are_the_denoiser_evaluations_the_pipeline_makes(folders, tmp_path, scheduler):
    import noisesearch
    from diffusers import DiffusionPipeline

    folder = folders[scheduler] if scheduler in folders else save_tiny_stable_diffusion(tmp_path / scheduler, scheduler)
    pipe = DiffusionPipeline.from_pretrained(folder)
    rows = []
    pipe.unet.register_forward_pre_hook(lambda module, args, kwargs: rows.append(args[0].shape[0]), with_kwargs=True)
    (result,) = noisesearch.search(prompts=["a red cat"], pipeline=pipe, steps=3, batch_size=2,
                                   algorithm_args={"n": 3}, verifiers=[f"clip:local-dir:{folders['clip']}"],
                                   budget_nfe=3 * 2 * (5 if scheduler == "heun" else 3))
    assert result.candidates == 3 and result.nfe == sum(rows)  # rows per unet call: 2 per candidate under CFG


FAMILIES = {  # builder, NFEs per step (2 under CFG; FLUX's guidance is distilled), scheduler
    "sdxl": (tiny_models.save_tiny_sdxl, 2, "EulerDiscreteScheduler"),
    "sd3": (tiny_models.save_tiny_sd3, 2, "FlowMatchEulerDiscreteScheduler"),
    "flux": (tiny_models.save_tiny_flux, 1, "FlowMatchEulerDiscreteScheduler"),
    "pixart-sigma": (tiny_models.save_tiny_pixart_sigma, 2, "DPMSolverMultistepScheduler"),
    "sana": (tiny_models.save_tiny_sana, 2, "FlowMatchEulerDiscreteScheduler"),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_other_families_reproduce_their_pipeline_and_are_charged_the_rows_they_run(folders, tmp_path, family):
    from diffusers import DiffusionPipeline
    from noisesearch.lightning.module import SearchModule

    build, per_step, scheduler = FAMILIES[family]
    folder = build(tmp_path / family)
    pipe = DiffusionPipeline.from_pretrained(folder)
    rows = []
    denoiser = pipe.unet if hasattr(pipe, "unet") else pipe.transformer
    hook = denoiser.register_forward_pre_hook(
        lambda module, args, kwargs: rows.append((args[0] if args else kwargs["hidden_states"]).shape[0]),
        with_kwargs=True)
    module = SearchModule(pipeline=pipe, verifiers=[f"clip:local-dir:{folders['clip']}"], steps=2, height=32,
                          width=32, algorithm="random", budget_nfe=3 * 2 * per_step, mode="whole")
    (result,) = noisesearch.search(prompts=["a red cat"], module=module)
    hook.remove()
    summary = module.describe()
    assert summary["scheduler"] == scheduler and summary["sample_nfe"] == 2 * per_step
    assert result.candidates == 3 and result.nfe == sum(rows), rows  # rows through the denoiser: 2 under CFG
    theirs = DiffusionPipeline.from_pretrained(folder)
    theirs.set_progress_bar_config(disable=True)
    regenerated = theirs("a red cat", latents=result.noise[None], num_inference_steps=2,
                         guidance_scale=summary["guidance"], height=32, width=32, output_type="np").images[0]
    mine = np.asarray(result.pil, dtype=np.float32) / 255
    assert np.abs(regenerated - mine).max() <= 2 / 255


def test_each_prompt_is_encoded_once_per_run(folders):
    import noisesearch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folders["ddim"])
    calls = []
    pipe.text_encoder.register_forward_pre_hook(lambda module, args: calls.append(1))
    results = noisesearch.search(prompts=["a red cat", "two dogs"], pipeline=pipe, steps=2, batch_size=2,
                                 algorithm_args={"n": 6}, budget_nfe=6 * 4,
                                 verifiers=[f"clip:local-dir:{folders['clip']}"])
    assert [r.candidates for r in results] == [6, 6]
    # the latent-shape probe encodes its own prompt and empty negative once (2 calls); then each of the two prompts
    # and the empty negative prompt once each under CFG (4 calls), not once per batch of candidates (12)
    assert len(calls) == 2 + 4


def test_a_modelscope_clip_is_what_the_pipeline_makes_at_the_asked_length(in_process, folders, tmp_path):
    from diffusers import DiffusionPipeline

    from noisesearch.store.folder import RunDir

    folder = tiny_models.save_tiny_text_to_video(tmp_path / "video")
    out = tmp_path / "run"
    done = in_process("predict", "--model.pipeline", str(folder), "--model.verifiers",
                      json.dumps([f"clip:local-dir:{folders['clip']}"]), "--data.prompts", '["a red cat"]',
                      "--model.steps", "2", "--model.budget_nfe", "8", "--model.frames", "6", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    clips, _, summary = RunDir(out).load_images()
    (record,) = summary.results
    noise = load_file(out / record.noise)["noise"]
    assert record.candidates == 2 and noise.shape[1] == 6 and clips.shape == (1, 6, 3, 32, 32)
    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    frames = pipe("a red cat", latents=noise[None], num_inference_steps=2, guidance_scale=summary.header.model.guidance,
                  height=32, width=32, num_frames=6, output_type="pt").frames[0]
    assert (frames - clips[0]).abs().max() <= 1 / 255  # every frame, as 8 bits


def test_pixart_off_its_resolution_bins_runs_with_binning_off_as_the_pipeline_does(folders, tmp_path):
    from diffusers import DiffusionPipeline

    folder = tiny_models.save_tiny_pixart_sigma(tmp_path / "pixart", sample_size=16)
    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="Invalid sample size"):  # what a user meets with the pipeline's defaults
        pipe("a red cat", num_inference_steps=1, height=32, width=32, output_type="latent")
    (result,) = noisesearch.search(prompts=["a red cat"], pipeline=str(folder), steps=2, height=32, width=32,
                                   algorithm="random", budget_nfe=8, mode="whole",
                                   verifiers=[f"clip:local-dir:{folders['clip']}"])
    theirs = pipe("a red cat", latents=result.noise[None], num_inference_steps=2, height=32, width=32,
                  use_resolution_binning=False, output_type="np").images[0]  # its own default guidance, as ours
    mine = np.asarray(result.pil, dtype=np.float32) / 255
    assert np.abs(theirs - mine).max() <= 2 / 255


def test_a_setting_the_pipeline_refuses_is_one_line(folders, tmp_path):
    import noisesearch
    from diffusers import StableDiffusionPipeline
    from noisesearch.errors import UsageError

    class Strict(StableDiffusionPipeline):
        def check_inputs(self, *args, **kwargs):
            raise ValueError("`height` and `width` have to be divisible by 64 but are 32 and 32.\nmore detail")

    pipe = Strict.from_pretrained(folders["ddim"])
    with pytest.raises(UsageError) as refused:
        noisesearch.search(prompts=["a red cat"], pipeline=pipe, steps=2, budget_nfe=8,
                           verifiers=[f"clip:local-dir:{folders['clip']}"])
    message = str(refused.value)
    assert "\n" not in message and "divisible by 64" in message and "model.height" in message
    assert message.startswith("StableDiffusionPipeline.__call__")


def test_a_video_pipeline_is_charged_the_rows_it_runs(folders, tmp_path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_models.save_tiny_text_to_video(tmp_path / "video"))
    rows = []
    pipe.unet.register_forward_pre_hook(lambda module, args, kwargs: rows.append(args[0].shape[0]),
                                        with_kwargs=True)
    (result,) = noisesearch.search(prompts=["a red cat"], pipeline=pipe, steps=2, batch_size=2, mode="whole",
                                   algorithm_args={"n": 3}, verifiers=[f"clip:local-dir:{folders['clip']}"])
    assert result.candidates == 3 and result.nfe == sum(rows) > 0, rows  # rows: 2 a candidate under CFG
