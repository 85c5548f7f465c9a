"""Seconds and peak memory of decoding x0-previews of video: the whole clip (the default) against
``model.preview_frames`` K (K latent frames, each decoded alone).

    python benchmarks/video_previews.py                          # tiny Wan 2.1 built here, 33 frames at 128x128
    python benchmarks/video_previews.py --pipeline FOLDER --frames 33 --size 480 --counts 1 2 4

Each row decodes the same ``--batch`` random latents ``--repeats`` times after one warm-up decode and reports the
median seconds (CUDA: synchronised) and the peak memory above the latents (CUDA: allocated; CPU: not measured).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", help="a diffusers video pipeline folder (default: a tiny Wan 2.1 built here)")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    from noisesearch.lightning.module import SearchModule
    from noisesearch.pipeline import RunSpec

    from noisesearch_plugins.testing.tiny_models import save_tiny_open_clip

    scratch = Path(tempfile.mkdtemp(prefix="noisesearch-previews-"))
    if options.pipeline is None:
        from noisesearch_plugins.testing.tiny_video import save_tiny_wan

        options.pipeline = str(save_tiny_wan(scratch / "wan", scheduler="euler"))
    verifier = f"clip:local-dir:{save_tiny_open_clip(scratch / 'clip')}"  # loaded only to build the settings
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    module = SearchModule(pipeline=options.pipeline, algorithm="none", verifiers=[verifier], mode="native", steps=4,
                          height=options.size, width=options.size, frames=options.frames)
    module.models.load()
    pipeline = module.pipeline.to(device)
    search = module.run_settings.search
    pipeline.configure(RunSpec(4, search.guidance, options.size, options.size, search.sampler, options.frames))
    shape = pipeline.latent_shape(options.size, options.size)
    z = torch.randn((options.batch, *shape), generator=torch.Generator().manual_seed(0)).to(device)
    print(f"{options.frames} frames at {options.size}x{options.size} (latents {tuple(shape)}), batch {options.batch}, "
          f"on {device.type}")
    print(f"{'preview':<22} {'frames out':>10} {'seconds':>9} {'x whole':>8} {'peak MiB':>9}")
    whole = None
    for count in [None, *options.counts]:
        pipeline.__dict__.pop("preview_frames", None)
        if count is not None:
            pipeline.limit_preview_frames(count)
        seconds, peak, frames = measure(pipeline, z, options.repeats, cuda)
        whole = whole or seconds
        label = "whole clip" if count is None else f"preview_frames {count}"
        memory = f"{peak:>9.1f}" if peak is not None else f"{'-':>9}"
        print(f"{label:<22} {frames:>10} {seconds:>9.4f} {seconds / whole:>8.2f} {memory}")


def measure(pipeline, z: torch.Tensor, repeats: int, cuda: bool) -> tuple[float, float | None, int]:
    """Median seconds of ``decode_preview(z)``, its peak memory above ``z`` (CUDA), and the frames it gives."""
    with torch.no_grad():
        out = pipeline.decode_preview(z)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() if cuda else 0
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            out = pipeline.decode_preview(z)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else None
    return statistics.median(times), peak, out.shape[1]


if __name__ == "__main__":
    main()
