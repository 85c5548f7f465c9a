"""Video families: the core's sampler drives Wan (2.1 and 2.2's experts), LTX-Video, HunyuanVideo and CogVideoX, a
plain native solve is what ``pipe(latents=...)`` makes frame by frame, every algorithm runs on clips, and a run
writes each chosen clip as a frame strip, a lossless animated WebP and an MP4."""

import logging

import numpy as np
import pytest
import torch

import noisesearch
from noisesearch.lightning.module import SearchModule
from noisesearch_plugins.testing import tiny_video

FAMILIES = {  # how each tiny pipeline is built, under a scheduler whose step the core's sampler takes
    "wan-euler": lambda folder: tiny_video.save_tiny_wan(folder, scheduler="euler"),
    "wan-dpm": lambda folder: tiny_video.save_tiny_wan(folder, scheduler="dpm"),
    "wan22": lambda folder: tiny_video.save_tiny_wan(folder, scheduler="euler", experts=2),
    "ltx": tiny_video.save_tiny_ltx,
    "hunyuan": tiny_video.save_tiny_hunyuan_video,
    "cogvideox": tiny_video.save_tiny_cogvideox,
}
_built: dict = {}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("video")


def folder_of(root, family):
    if family not in _built:
        _built[family] = (FAMILIES.get(family) or tiny_video.save_tiny_wan)(root / family)
    return _built[family]


def module_for(folder, clip, algorithm="none", budget=None, **settings):
    settings = {"height": 32, "width": 32, "frames": 5, "steps": 4, **settings}
    return SearchModule(pipeline=str(folder), algorithm=algorithm, budget_nfe=budget,
                        verifiers=settings.pop("verifiers", [f"clip:local-dir:{clip}"]), **settings)


def reference(folder, result, frames=5):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe(result.task.condition.prompt, latents=result.noise[None], num_inference_steps=4, height=32, width=32,
                num_frames=frames, output_type="pt").frames[0]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_native_solve_is_what_the_pipeline_makes_frame_by_frame(root, tiny_clip, family):
    folder = folder_of(root, family)
    module = module_for(folder, tiny_clip, mode="native")
    (result,) = noisesearch.search(prompts=["a red cat"], module=module)
    assert module.describe()["mode"] == "native"
    assert module.describe()["sampler"] == ("dpm2m" if family == "wan-dpm" else "euler")
    theirs = reference(folder, result)
    assert result.image.shape == theirs.shape and result.image.shape[1:] == (3, 32, 32)
    for frame in range(theirs.shape[0]):
        assert (theirs[frame] - result.image[frame]).abs().max() <= 1e-4, (family, frame)


def test_wans_default_unipc_runs_whole_and_natively_as_the_pipeline_does(root, tiny_clip, caplog):
    """Whole mode runs the pipeline's own scheduler; native mode the core's UniPC, frame by frame the same, and SMC
    stops and continues its particles with UniPC's history."""
    folder = folder_of(root, "wan-unipc")
    (whole,) = noisesearch.search(prompts=["a red cat"], module=module_for(folder, tiny_clip))
    assert torch.equal(reference(folder, whole), whole.image)
    module = module_for(folder, tiny_clip, mode="native")
    with caplog.at_level(logging.WARNING, logger="noisesearch"):
        (native,) = noisesearch.search(prompts=["a red cat"], module=module)
    assert module.describe()["sampler"] == "unipc" and "UniPCMultistepScheduler" not in caplog.text
    theirs = reference(folder, native)
    for frame in range(theirs.shape[0]):
        assert (theirs[frame] - native.image[frame]).abs().max() <= 1e-4, frame
    smc = module_for(folder, tiny_clip, "smc", 32, algorithm_args={"k": 4})
    (steered,) = noisesearch.search(prompts=["a red cat"], module=smc)
    assert steered.nfe <= 32 and steered.trace["levels"] and smc.describe()["sampler"] == "unipc"


@pytest.mark.parametrize("algorithm,args,budget", [
    ("smc", {"k": 4}, 32), ("beam", {"width": 2, "branch": 2}, 32), ("paths", {"n": 2, "m": 2}, 176),
    ("halving", {}, 80), ("zero-order", {"n": 2}, 32), ("evolution", {"population": 2, "elites": 1}, 32),
    ("gradient", {}, 64),
])
def test_every_algorithm_runs_on_wan_22s_two_experts(root, tiny_clip, algorithm, args, budget):
    """Wan 2.2 is the hardest family: guidance by a second call, and the denoiser switched at the boundary."""
    module = module_for(folder_of(root, "wan22"), tiny_clip, algorithm, budget, algorithm_args=args, batch_size=3,
                        mode="native")
    results = noisesearch.search(prompts=["a red cat"], module=module)
    assert module.describe()["mode"] == "native"
    for result in results:
        assert 0 < result.nfe <= budget and result.candidates >= 2
        assert result.image.shape == (5, 3, 32, 32) and np.isfinite(result.score)


@pytest.mark.parametrize("family", ["ltx", "hunyuan", "cogvideox", "wan-dpm"])
def test_smc_steers_every_video_family(root, tiny_clip, family):
    """On cheap previews (model.preview_frames) but for Wan's, which decodes each preview whole."""
    per_call = 1 if family == "hunyuan" else 2  # HunyuanVideo's guidance is embedded
    cheap = {} if family == "wan-dpm" else {"preview_frames": 2}
    module = module_for(folder_of(root, family), tiny_clip, "smc", 16 * per_call, algorithm_args={"k": 4}, **cheap)
    (result,) = noisesearch.search(prompts=["two dogs"], module=module)
    assert result.nfe <= 16 * per_call and result.image.dim() == 4 and result.trace["levels"]


@pytest.mark.parametrize("family", ["wan-euler", "ltx", "hunyuan", "cogvideox"])
def test_preview_frames_decode_some_latent_frames_each_alone(root, tiny_clip, family):
    from noisesearch.pipeline import RunSpec

    module = module_for(folder_of(root, family), tiny_clip, "smc", 64, frames=9, preview_frames=2)
    module.models.load()
    pipeline, search = module.pipeline, module.run_settings.search
    pipeline.configure(RunSpec(4, search.guidance, 32, 32, search.sampler, 9))
    z = torch.randn((2, *pipeline.latent_shape(32, 32)), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole, preview = pipeline.decode(z), pipeline.decode_preview(z)
    assert whole.shape == (2, 9, 3, 32, 32) and preview.shape == (2, 2, 3, 32, 32)
    if family == "wan-euler":  # a causal VAE whose norms see one frame: the first frame alone is the clip's first
        torch.testing.assert_close(preview[:, 0], whole[:, 0], atol=1e-4, rtol=0)


def test_preview_frames_is_refused_where_nothing_would_use_it(root, tiny_clip, in_process, tiny_sd):
    wan = str(folder_of(root, "wan-euler"))
    refused = {
        (str(tiny_sd("ddim")), "smc"): "applies to video pipelines of diffusers in native mode",
        (wan, "random"): "decodes no x0-preview",
        (wan, "smc", "--model.verifiers", "[self-supervised]"): "compares each preview with its finished clip",
    }
    for args, message in refused.items():
        done = in_process("predict", "--model.pipeline", args[0], "--model.algorithm", args[1], *args[2:],
                          "--model.preview_frames", "2", "--data.prompts", "[a cat]", "--model.height", "32",
                          "--model.width", "32", "--model.budget_nfe", "32")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_model_frames_sets_the_clip_length_and_bad_lengths_are_refused(root, tiny_clip, in_process, tiny_sd):
    folder = folder_of(root, "ltx")
    (result,) = noisesearch.search(prompts=["a red cat"], module=module_for(folder, tiny_clip, frames=9))
    assert result.image.shape[0] == 9
    refused = {
        (str(folder), "--model.frames", "6"): "makes 1 + a multiple of 4 frames; use 5",
        (str(tiny_sd("ddim")), "--model.frames", "5"): "apply to video pipelines",
        (str(folder_of(root, "wan-euler")), "--model.frame_rate", "24"): "takes no frame rate",
    }
    for args, message in refused.items():
        done = in_process("predict", "--model.pipeline", args[0], *args[1:], "--data.prompts", "[a cat]",
                          "--model.height", "32", "--model.width", "32")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_run_writes_each_clip_as_strip_webp_and_mp4(root, tiny_clip, tmp_path):
    import av
    from PIL import Image, ImageSequence

    from noisesearch.store.folder import RunDir

    out = tmp_path / "run"
    module = module_for(folder_of(root, "wan-euler"), tiny_clip, "random", 4 * 8)
    (result,) = noisesearch.search(prompts=["a red cat"], module=module, out=str(out))
    clips, _, summary = RunDir(out).load_images()
    record = summary.results[0]
    eight_bit = (result.image.clamp(0, 1) * 255).round()
    assert clips.shape == (1, 5, 3, 32, 32) and torch.equal((clips[0] * 255).round(), eight_bit)  # lossless WebP
    assert Image.open(out / record.image).size == (5 * 32, 32)  # the frame strip
    with av.open(str(out / record.video)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (32, 32, 3)
    assert np.abs(decoded[2].astype(float) - eight_bit[2].permute(1, 2, 0).numpy()).mean() < 24  # H.264, lossy
    assert len(list(ImageSequence.Iterator(Image.open(out / "grid.webp")))) == 5
    page = (out / "report.html").read_text()
    assert page.count("data:image/webp;base64,") >= 5 and record.animation in page  # thumbnails are animations


def test_bench_and_compare_read_clips(root, tiny_clip, tmp_path, in_process):
    import json

    import yaml

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\ntwo dogs\n")
    study = {"pipeline": str(folder_of(root, "ltx")), "prompts_file": str(prompts), "per_condition": 1,
             "algorithms": [{"name": "random"}, {"name": "smc", "args": {"k": 4}}],
             "verifiers": [[f"clip:local-dir:{tiny_clip}"]], "budgets": [32], "batch_size": 8,
             "model": {"height": 32, "width": 32, "frames": 5, "steps": 4, "clip_frames": 2}}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    done = in_process("bench", "--config", str(config), "--out", str(tmp_path / "bench"))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert len(rows) == 2 and all(len(row["per_search"]["verifier:clip"]) == 2 for row in rows)
    cells = sorted((tmp_path / "bench" / "cells").iterdir())
    done = in_process("compare", *map(str, cells))
    assert done.returncode == 0 and "smc" in done.stdout and "random" in done.stdout, done.stderr[-2000:]


def test_chromium_plays_the_reports_animations(root, tiny_clip, tmp_path):
    """The animated WebP thumbnails of report.html decode in Chromium (its own WebP decoder, through WebCodecs'
    ImageDecoder): every frame of the clip, at the thumbnail's size."""
    import re
    import subprocess

    from helpers import CHROMIUM_FLAGS, chromium

    out = tmp_path / "run"
    noisesearch.search(prompts=["a red cat"], module=module_for(folder_of(root, "wan-euler"), tiny_clip, "random",
                                                                16), out=str(out))
    uri = re.search(r'src="(data:image/webp;base64,[^"]+)"', (out / "report.html").read_text()).group(1)
    probe = tmp_path / "probe.html"
    probe.write_text(f"""<!doctype html><html><body><pre id="seen">pending</pre><script>
(async () => {{
  const data = Uint8Array.from(atob("{uri.split(',', 1)[1]}"), c => c.charCodeAt(0));
  const decoder = new ImageDecoder({{data, type: "image/webp"}});
  await decoder.tracks.ready;
  const track = decoder.tracks.selectedTrack;
  const last = await decoder.decode({{frameIndex: track.frameCount - 1}});
  document.getElementById("seen").textContent = track.animated + " " + track.frameCount + " " +
    last.image.displayWidth;
}})().catch(error => {{ document.getElementById("seen").textContent = "error " + error; }});
</script></body></html>""")
    done = subprocess.run([chromium(), *CHROMIUM_FLAGS, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    seen = re.search(r'<pre id="seen">([^<]*)</pre>', done.stdout).group(1)
    assert seen == "true 5 32", seen  # an animation of the clip's 5 frames, 32 pixels wide
