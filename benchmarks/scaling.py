"""Searches per second with 1 and 2 CPU processes (one thread each), in both DDP modes, and the efficiency.

    python benchmarks/scaling.py [--per_class 6] [--candidates 512]

Each measurement is a real `noisesearch predict` (Lightning DDP, gloo); throughput is searches (or candidates) per
second of search time (`elapsed_s` in summary.json: models already loaded). Efficiency = speed-up / processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from noisesearch.store.folder import RunDir

BIN = Path(sys.executable).parent / "noisesearch"


def measure(args: list[str], devices: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        command = [str(BIN), "predict", *args, "--out", folder, "--trainer.accelerator", "cpu",
                   "--trainer.devices", str(devices)]
        if devices > 1:
            command += ["--trainer.strategy", "ddp"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, capture_output=True)
        summary = RunDir(folder).read_summary()
    return {"searches": len(summary.results), "elapsed_s": summary.cost.elapsed_s,
            "candidates": sum(r.candidates for r in summary.results), "nfe_used": summary.cost.nfe_used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per_class", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=512)
    options = parser.parse_args()
    modes = {
        "conditions": ["--data.classes", "0-9", "--data.per_condition", str(options.per_class),
                       "--data.batch_size", "5", "--model.algorithm", "random", "--model.budget_nfe", "112",
                       "--model.batch_size", "40"],
        "candidates": ["--data.classes", "3", "--model.algorithm", "random", "--model.budget_nfe",
                       str(7 * options.candidates), "--model.shard", "candidates", "--model.batch_size", "64"],
    }
    print("| mode | processes | work | search time (s) | throughput | efficiency |")
    print("|---|---|---|---|---|---|")
    for mode, args in modes.items():
        unit = "searches" if mode == "conditions" else "candidates"
        rates = {}
        for devices in (1, 2):
            figures = measure(args, devices)
            rates[devices] = figures[unit] / figures["elapsed_s"]
            efficiency = rates[devices] / rates[1] / devices
            print(f"| {mode} | {devices} | {figures[unit]} {unit} | {figures['elapsed_s']:.2f} | "
                  f"{rates[devices]:.1f} {unit}/s | {efficiency:.2f} |", flush=True)


if __name__ == "__main__":
    main()
