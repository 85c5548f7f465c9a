"""Shared fixtures: the `noisesearch` command run as a user runs it, offline (helpers.py holds the plain helpers)."""

import os
import subprocess

import pytest

from helpers import ROOT, run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any hub library is imported: in-process runs are offline too


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
