"""Shared fixtures: the `noisesearch` command run as a user runs it, offline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any hub library is imported: in-process runs are offline too
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    """Run `noisesearch ARGS` in a subprocess; returns the CompletedProcess (text output)."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [str(BIN / "noisesearch"), *args], capture_output=True, text=True, env=environment, cwd=cwd or ROOT,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def in_process(capsys, monkeypatch):
    """`noisesearch ARGS` run in this process (no interpreter start, no import of torch and Lightning per call):
    returns the CompletedProcess a subprocess would give; an unexpected exception fails the test. Tests of what
    reaches the shell (exit codes, signals, several processes) use `cli` instead."""
    from noisesearch.cli import main

    monkeypatch.chdir(ROOT)

    def call(*args: str) -> subprocess.CompletedProcess:
        try:
            code = main(list(args)) or 0
        except SystemExit as exit:
            code = exit.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return call


@pytest.fixture
def refused(in_process):
    """`noisesearch ARGS` in this process, for refusals that happen before any search."""
    return in_process


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Tiny open_clip, transformers CLIP, ViT classifier and DINOv2 folders and an aesthetic head, saved like hub
    checkpoints to folders the project never saw."""
    from noisesearch_plugins.testing import tiny_models
    from noisesearch_plugins.verifiers.aesthetic import save_random_head

    root = tmp_path_factory.mktemp("models")
    return {
        "open_clip": tiny_models.save_tiny_open_clip(root / "open-clip"),
        "other_open_clip": tiny_models.save_tiny_open_clip(root / "other-open-clip", seed=1),
        "aesthetic": save_random_head(root / "aesthetic.safetensors"),
        "clip": tiny_models.save_tiny_clip(root / "hf-clip"),
        "vit": tiny_models.save_tiny_image_classifier(root / "vit"),
        "dino": tiny_models.save_tiny_dino(root / "dino"),
    }


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium() -> str:
    """Debian's Chromium, which `make test` installs (the reports are checked as a person sees them)."""
    import shutil

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
