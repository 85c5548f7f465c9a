"""Batched noise search against the peers' per-candidate loop, on one diffusers pipeline (whole and native modes).

    python benchmarks/whole_pipeline.py --candidates 16 --steps 10            # a tiny SD 1.x pipeline built here
    python benchmarks/whole_pipeline.py --pipeline FOLDER --verifier clip:local-dir:DIR --size 512

Both sides make and score the same number of candidates for one prompt with the same verifier. The peers' loop is
one ``pipe(prompt, latents=noise)`` call and one verifier call per candidate. Prints candidates per second for both
and the ratio, then the framework's overhead: search seconds per NFE against a bare batched ``pipe()`` call of the
same candidates (no search, no verifier) and against the bare batched denoiser forwards alone. The same random
search is also timed in native mode (the core's sampler driving the pipeline's denoiser through its adapter).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import noisesearch
from noisesearch.conditions import Condition
from noisesearch.lightning.module import SearchModule
from noisesearch_plugins.testing.tiny_models import save_tiny_open_clip, save_tiny_stable_diffusion


def timed(function, repeats: int) -> float:
    """Median wall seconds of ``function()`` over ``repeats`` runs, after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", help="a diffusers pipeline folder (default: a tiny SD 1.x built here)")
    parser.add_argument("--verifier", help="verifier spec (default: a tiny open_clip CLIPScore built here)")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16, help="candidates per pipe() call of the search")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt", default="a red cat")
    options = parser.parse_args()
    torch.manual_seed(0)
    scratch = Path(tempfile.mkdtemp(prefix="noisesearch-bench-"))
    folder = options.pipeline or str(save_tiny_stable_diffusion(scratch / "sd"))
    verifier = options.verifier or f"clip:local-dir:{save_tiny_open_clip(scratch / 'clip')}"

    settings = dict(pipeline=folder, verifiers=[verifier], algorithm="random",
                    algorithm_args={"n": options.candidates}, steps=options.steps, guidance=options.guidance,
                    height=options.size, width=options.size, batch_size=options.batch_size,
                    budget_nfe=options.candidates * 2 * options.steps if options.guidance > 1 else
                    options.candidates * options.steps)
    module = SearchModule(**settings)
    module.models.load()
    native = SearchModule(**settings, mode="native")
    native.models.load()
    pipe, judge = module.pipeline.pipe, module.models.verifiers[0]
    shape = module.pipeline.latent_shape(options.size, options.size)
    noises = torch.randn(options.candidates, *shape)
    condition = Condition(prompt=options.prompt)
    call = dict(num_inference_steps=options.steps, guidance_scale=options.guidance, height=options.size,
                width=options.size, output_type="pt")

    def peers() -> None:
        with torch.no_grad():
            for noise in noises:
                image = pipe(options.prompt, latents=noise[None], **call).images
                judge.score(image, [condition])

    def ours() -> None:
        noisesearch.search(prompts=[options.prompt], module=module)

    def ours_native() -> None:
        noisesearch.search(prompts=[options.prompt], module=native)

    def bare_pipe() -> None:
        with torch.no_grad():
            for start in range(0, options.candidates, options.batch_size):
                chunk = noises[start : start + options.batch_size]
                pipe([options.prompt] * len(chunk), latents=chunk, **call)

    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer")
    with torch.no_grad():
        embeds = pipe.encode_prompt(options.prompt, "cpu", 1, options.guidance > 1)
    text = torch.cat([embeds[1], embeds[0]]) if options.guidance > 1 else embeds[0]

    def bare_forwards() -> None:
        with torch.no_grad():
            for start in range(0, options.candidates, options.batch_size):
                chunk = noises[start : start + options.batch_size]
                x = torch.cat([chunk, chunk]) if options.guidance > 1 else chunk
                context = text.repeat_interleave(len(chunk), dim=0)
                for t in pipe.scheduler.timesteps[: options.steps] if len(pipe.scheduler.timesteps) else range(options.steps):
                    denoiser(x, t, encoder_hidden_states=context)

    images = torch.rand(options.candidates, 3, options.size, options.size)
    latents = torch.randn(options.candidates, *shape)

    def bare_rest() -> None:  # what a search must do besides the forwards: decode every candidate and score it
        with torch.no_grad():
            for start in range(0, options.candidates, options.batch_size):
                chunk = latents[start : start + options.batch_size]
                pipe.vae.decode(chunk / pipe.vae.config.scaling_factor)
                judge.score(images[start : start + len(chunk)], [condition] * len(chunk))

    pipe.scheduler.set_timesteps(options.steps)
    nfe = module.run_settings.search.budget_nfe
    seconds = {"peers": timed(peers, options.repeats), "ours": timed(ours, options.repeats),
               "native": timed(ours_native, options.repeats),
               "bare_pipe": timed(bare_pipe, options.repeats), "bare_forwards": timed(bare_forwards, options.repeats),
               "bare_rest": timed(bare_rest, options.repeats)}
    print(f"pipeline {Path(folder).name}: {options.candidates} candidates, {options.steps} steps, guidance "
          f"{options.guidance}, {options.size}x{options.size}, {nfe} NFEs, torch threads {torch.get_num_threads()}")
    print(f"peers' loop (one pipe() per candidate): {options.candidates / seconds['peers']:.2f} candidates/s")
    print(f"noisesearch random search (batch {options.batch_size}): {options.candidates / seconds['ours']:.2f} "
          f"candidates/s")
    print(f"speed-up: {seconds['peers'] / seconds['ours']:.2f}x")
    print(f"noisesearch random search, native mode: {options.candidates / seconds['native']:.2f} candidates/s "
          f"(speed-up {seconds['peers'] / seconds['native']:.2f}x)")
    per_nfe = {key: 1000 * value / nfe for key, value in seconds.items()}
    print(f"ms per NFE: search {per_nfe['ours']:.3f}, bare batched pipe() {per_nfe['bare_pipe']:.3f} "
          f"(overhead {100 * (per_nfe['ours'] / per_nfe['bare_pipe'] - 1):+.1f}%), bare denoiser forwards "
          f"{per_nfe['bare_forwards']:.3f} (overhead {100 * (per_nfe['ours'] / per_nfe['bare_forwards'] - 1):+.1f}%)")
    print(f"ms per NFE, native mode: {per_nfe['native']:.3f} (overhead against the bare denoiser forwards "
          f"{100 * (per_nfe['native'] / per_nfe['bare_forwards'] - 1):+.1f}%)")
    bare = per_nfe["bare_forwards"] + per_nfe["bare_rest"]
    print(f"ms per NFE of the bare work (denoiser forwards + VAE decoding + verifier scoring): {bare:.3f}; framework "
          f"overhead: whole {100 * (per_nfe['ours'] / bare - 1):+.1f}%, native {100 * (per_nfe['native'] / bare - 1):+.1f}%")


if __name__ == "__main__":
    main()
