"""Start-up time of the `noisesearch` command: `list`, `--help`, `predict --help` and refused bad inputs, beside a
bare `python -c "import torch"`.

    python benchmarks/startup.py [--bin PATH/TO/noisesearch] [--repeat 5]

Prints the median wall-clock seconds of each command over --repeat runs (after one warm-up run each, so the OS
file cache is warm), and its exit code. Compare two installs by passing each one's `noisesearch` as --bin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c 'import torch'": None,  # the floor: what any refusal that checks plugins must import
    "list": ["list"],
    "--help": ["--help"],
    "predict --help": ["predict", "--help"],
    "refused: budget -3": ["predict", "--model.budget_nfe", "-3"],
    "refused: unknown algorithm": ["predict", "--model.algorithm", "nosuch"],
    "refused: missing config": ["predict", "--config", "configs/nosuch.yaml"],
    "refused: unknown option": ["predict", "--model.budgett", "100"],
}


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=str(Path(sys.executable).parent / "noisesearch"))
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'exit':>5}   ({options.bin}, {options.repeat} runs)")
    for label, args in COMMANDS.items():
        command = [sys.executable, "-c", "import torch"] if args is None else [options.bin, *args]
        timed(command)
        runs = [timed(command) for _ in range(options.repeat)]
        seconds = [s for s, _ in runs]
        print(f"{label:<28} {statistics.median(seconds):>9.2f} {min(seconds):>7.2f} {runs[0][1]:>5}")


if __name__ == "__main__":
    main()
