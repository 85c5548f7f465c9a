"""CPU figures for docs/speed.md: ``model.compile`` and the background journal writer on the shapes world.

    python benchmarks/speed.py                      # random search, 2 prompts x 32 candidates, batch 16
    python benchmarks/speed.py --candidates 64 --repeat 3

Each setting runs ``--repeat`` times in a fresh run folder (the first run of a compile setting pays its compiling,
which summary.json reports apart as ``compile_warmup_s``); it prints the median search seconds (``elapsed_s``, the
warm-up excluded), the warm-up, and whether the chosen candidates equal the eager, inline-written run's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import noisesearch

PROMPTS = ["a red circle", "two blue squares"]


def run(out: Path, candidates: int, batch: int, **settings) -> tuple:
    run = noisesearch.search(prompts=PROMPTS, algorithm="random", budget_nfe=candidates * 30, batch_size=batch,
                             out=out, overwrite=True, **settings)
    return run.summary, [(r.candidate, round(r.score, 4)) for r in run]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="speed-"))
    cases = {"eager, inline writes": {"background_writes": False},
             "eager, background writes": {},
             "compile regional": {"compile": "regional"},
             "compile denoiser": {"compile": "denoiser"}}
    reference = None
    for name, settings in cases.items():
        seconds, warmups, chosen = [], [], None
        for i in range(args.repeat):
            summary, chosen = run(root / f"{name.replace(' ', '_')}-{i}", args.candidates, args.batch, **settings)
            seconds.append(summary.cost.elapsed_s)
            warmups.append(summary.cost.compile_warmup_s or 0.0)
        reference = reference or chosen
        same = [c for c, _ in chosen] == [c for c, _ in reference]
        print(f"{name:<26} search {statistics.median(seconds):6.2f} s (runs {', '.join(f'{s:.2f}' for s in seconds)}),"
              f" compile warm-up {', '.join(f'{w:.1f}' for w in warmups)} s, same choices as eager: {same}, "
              f"scores {[s for _, s in chosen]}")


if __name__ == "__main__":
    main()
