"""Peak memory of noise search on a video pipeline against a plain batched ``pipe()`` at the same batch.

    python benchmarks/video_memory.py                                   # tiny Wan 2.1 built here, CPU resident memory
    python benchmarks/video_memory.py --pipeline FOLDER --verifier clip:local-dir:DIR --frames 33 --size 480

Each side runs in its own process: it loads the pipeline, runs its work once (allocators, thread pools and caches
warm up), resets the peak (``/proc/self/clear_refs``; CUDA: ``reset_peak_memory_stats``), notes what is resident
(or allocated on CUDA), runs the same work again and reports the peak above that. ``pipe`` is one
``pipe(prompt, latents=...)`` call of ``--batch`` clips; each algorithm is one search with ``model.batch_size``
``--batch`` and a budget of ``--candidates`` clips. The goal (#41): every search at most 1.2x the plain call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

# glibc hands large blocks back to the system when freed, so resident memory follows what is live (else a freed
# block stays resident and the second run's peak hides in it)
RETURN_FREED = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
ALGORITHMS = {"random": {}, "smc": {"k": 4}, "beam": {"width": 2, "branch": 2}, "halving": {}}


def resident_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: now; VmHWM: the peak so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(options, side: str) -> dict:
    """One side's peak memory above the loaded pipeline, in MiB (CUDA: allocated; else resident)."""
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    frames, size, batch = options.frames, options.size, options.batch
    if side == "pipe":
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(options.pipeline).to(device)
        pipe.set_progress_bar_config(disable=True)
        shape = probe_shape(options)
        latents = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(0)).to(device)

        def work():
            with torch.no_grad():
                pipe([options.prompt] * batch, latents=latents, num_inference_steps=options.steps, height=size,
                     width=size, num_frames=frames, output_type="pt")
    else:
        import noisesearch
        from noisesearch.lightning.module import SearchModule

        module = SearchModule(pipeline=options.pipeline, algorithm=side, algorithm_args=ALGORITHMS[side],
                              verifiers=[options.verifier], steps=options.steps, height=size, width=size,
                              frames=frames, batch_size=batch, budget_nfe=options.candidates * options.sample_nfe)

        def work():
            noisesearch.search(prompts=[options.prompt], module=module, device=str(device))
    work()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # the peak resident size starts again from now
    loaded = torch.cuda.memory_allocated() if cuda else resident_kib("VmRSS") * 1024
    work()
    peak = torch.cuda.max_memory_allocated() if cuda else resident_kib("VmHWM") * 1024
    return {"side": side, "device": "cuda" if cuda else "cpu", "loaded_mib": loaded / 2**20,
            "peak_above_mib": (peak - loaded) / 2**20}


def probe_shape(options) -> tuple[int, ...]:
    """One clip's ``latents=`` shape, as whole mode reads it."""
    from noisesearch.lightning.module import SearchModule

    module = SearchModule(pipeline=options.pipeline, algorithm="none", verifiers=[options.verifier],
                          steps=options.steps, height=options.size, width=options.size, frames=options.frames)
    module.models.load()
    from noisesearch.pipeline import RunSpec

    pipeline = module.pipeline
    pipeline.configure(RunSpec(options.steps, module.run_settings.search.guidance, options.size, options.size,
                               module.run_settings.search.sampler, options.frames))
    return tuple(pipeline.latent_shape(options.size, options.size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", help="a diffusers video pipeline folder (default: a tiny Wan 2.1 built here)")
    parser.add_argument("--verifier", help="verifier spec (default: a tiny open_clip CLIPScore built here)")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=16, help="clips' worth of NFEs each search may spend")
    parser.add_argument("--prompt", default="a red cat")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--sample_nfe", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.side:
        print(json.dumps(measure(options, options.side)))
        return
    scratch = Path(tempfile.mkdtemp(prefix="noisesearch-video-memory-"))
    if options.pipeline is None:
        from noisesearch_plugins.testing.tiny_video import save_tiny_wan

        options.pipeline = str(save_tiny_wan(scratch / "wan", scheduler="euler"))
    if options.verifier is None:
        from noisesearch_plugins.testing.tiny_models import save_tiny_open_clip

        options.verifier = f"clip:local-dir:{save_tiny_open_clip(scratch / 'clip')}"
    from noisesearch.run.settings import build

    sample_nfe = build(pipeline=options.pipeline, steps=options.steps, verifiers=[options.verifier]).sample_nfe
    common = [sys.executable, __file__, "--pipeline", options.pipeline, "--verifier", options.verifier,
              "--frames", str(options.frames), "--size", str(options.size), "--steps", str(options.steps),
              "--batch", str(options.batch), "--candidates", str(options.candidates), "--prompt", options.prompt,
              "--sample_nfe", str(sample_nfe)]
    rows = []
    for side in ["pipe", *ALGORITHMS]:
        done = subprocess.run([*common, "--side", side], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", **RETURN_FREED})
        if done.returncode != 0:
            raise SystemExit(f"{side} failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    plain = rows[0]["peak_above_mib"]
    print(f"{options.frames} frames at {options.size}x{options.size}, {options.steps} steps, batch {options.batch}, "
          f"on {rows[0]['device']} ({'allocated' if rows[0]['device'] == 'cuda' else 'resident'} memory above the "
          "loaded pipeline)")
    print(f"{'side':<10} {'peak above (MiB)':>17} {'x pipe()':>9}")
    for row in rows:
        ratio = row["peak_above_mib"] / plain if plain > 0 else float("nan")
        print(f"{row['side']:<10} {row['peak_above_mib']:>17.1f} {ratio:>9.2f}")


if __name__ == "__main__":
    main()
