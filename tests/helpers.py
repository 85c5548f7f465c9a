"""Helpers the tests share (fixtures live in conftest.py): the command line run as a user runs it, a solve in one
call, the browser the report tests open pages in, and the reference packages' folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def run_cli(*args: str, env: Optional[dict] = None, cwd: Optional[Path] = None, timeout: int = 300):
    """Run `noisesearch ARGS` in a subprocess; returns the CompletedProcess (text output)."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [str(BIN / "noisesearch"), *args], capture_output=True, text=True, env=environment, cwd=cwd or ROOT,
        timeout=timeout,
    )


def solve(denoiser, x, sigmas, cond, sampler: str = "heun", on_step=None, x0_first=None, frame: Any = None,
          earlier=None):
    """A solve along ``sigmas`` with the named sampler, in ``frame`` (EDM's by default)."""
    from noisesearch.sampling.frames import EDM
    from noisesearch.sampling.samplers import sampler_class

    return sampler_class(sampler)(frame or EDM, earlier).solve(denoiser, x, sigmas, cond, on_step, x0_first)


def chromium() -> str:
    """Debian's Chromium, which `make test` installs (the reports are checked as a person sees them)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is required for this test: `apt-get install chromium` (.ci/run installs it)"
    return found


def reference_site() -> Path:
    """The folder `make test`'s set-up installs the reference packages into (hpsv2, image-reward, timm; --no-deps),
    for the parity tests that compare a verifier with its published code."""
    site = ROOT / ".venv" / "reference"
    assert (site / "hpsv2").is_dir() and (site / "ImageReward").is_dir(), \
        "the reference packages are missing: run `make setup` (it installs them into .venv/reference)"
    return site
