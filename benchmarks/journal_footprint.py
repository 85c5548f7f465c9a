"""Journal bytes per candidate of a 1024x1024 run, by tensor, with and without ``model.keep_images``.

    python benchmarks/journal_footprint.py                  # a tiny SD 1.x layout pipeline built here, 1024 px
    python benchmarks/journal_footprint.py --size 512 --candidates 8

Runs random search on a tiny Stable Diffusion pipeline (random weights, the real diffusers classes) at the given
size, then reads every artifact's safetensors header and prints the bytes each tensor kind takes per candidate.
"before" is what the same candidates cost when the journal kept images as float32 (4 bytes a value) and no
thumbnails: the measured bytes with the 8-bit image replaced by its float32 size and the thumbnail left out.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from noisesearch_plugins.testing.tiny_models import save_tiny_open_clip, save_tiny_stable_diffusion


def tensor_bytes(path: Path) -> Counter:
    """Bytes of each tensor kind (the key after ``<record>.``) in one safetensors file, from its header."""
    with open(path, "rb") as file:
        size = struct.unpack("<Q", file.read(8))[0]
        header = json.loads(file.read(size))
    kinds = Counter()
    for key, entry in header.items():
        if key != "__metadata__":
            start, end = entry["data_offsets"]
            kinds[key.split(".", 1)[1]] += end - start
    return kinds


def measure(out: Path) -> tuple[int, Counter]:
    candidates = sum(1 for path in (out / "journal").glob("rank*.jsonl") for line in path.read_text().splitlines()
                     if json.loads(line)["type"] == "candidate")
    kinds = Counter()
    for path in (out / "journal" / "artifacts").rglob("*.safetensors"):
        kinds += tensor_bytes(path)
    return candidates, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--candidates", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="footprint-"))
    pipeline = save_tiny_stable_diffusion(root / "sd")
    clip = save_tiny_open_clip(root / "clip")
    binary = Path(sys.executable).parent / "noisesearch"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows = []
    for keep in (None, 1):
        out = root / f"run-{keep}"
        command = [str(binary), "predict", "--model.pipeline", str(pipeline), "--data.prompts", '["a red fox"]',
                   "--model.verifiers", f'["clip:local-dir:{clip}"]', "--model.steps", "2",
                   "--model.height", str(args.size), "--model.width", str(args.size), "--model.algorithm", "random",
                   "--model.algorithm_args", f"{{n: {args.candidates}}}", "--model.batch_size", "4",
                   "--out", str(out), "--quiet", "true"]
        if keep:
            command += ["--model.keep_images", str(keep)]
        subprocess.run(command, check=True, env=env)
        candidates, kinds = measure(out)
        rows.append((keep, candidates, kinds))
    print(f"journal bytes per candidate, {args.size}x{args.size} RGB, tiny SD layout ({args.candidates} candidates)")
    print(f"{'setting':<22} {'image':>12} {'thumb':>8} {'root noise':>11} {'total':>12}")
    for keep, candidates, kinds in rows:
        total = sum(kinds.values())
        label = "all images (8-bit)" if keep is None else f"keep_images {keep}"
        print(f"{label:<22} {kinds['image8'] / candidates:>12,.0f} {kinds['thumb'] / candidates:>8,.0f} "
              f"{kinds['root'] / candidates:>11,.0f} {total / candidates:>12,.0f}")
    _, candidates, kinds = rows[0]
    before = sum(kinds.values()) - kinds["image8"] - kinds["thumb"] + 4 * kinds["image8"]
    print(f"{'before (float32)':<22} {4 * kinds['image8'] / candidates:>12,.0f} {0:>8} "
          f"{kinds['root'] / candidates:>11,.0f} {before / candidates:>12,.0f}")


if __name__ == "__main__":
    main()
