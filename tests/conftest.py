"""Shared fixtures: the `noisesearch` command run as a user runs it, offline (helpers.py holds the plain helpers)."""

import os
import subprocess

import pytest

from helpers import ROOT, run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any hub library is imported: in-process runs are offline too

# fixtures that start the command in a process: a test that takes one is slow (`make test-fast` leaves it out)
PROCESS_FIXTURES = {"cli", "digits_run"}
DIGITS_RUN = ("predict", "--config", "configs/digits.yaml", "--data.classes", "0-5", "--data.per_condition", "2")


def pytest_collection_modifyitems(items):
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """A tiny Stable Diffusion folder per scheduler and prediction type, built once for the whole session (read only:
    a test that changes one copies it first)."""
    from noisesearch_plugins.testing import tiny_models

    root, built = tmp_path_factory.mktemp("tiny-sd"), {}

    def folder(scheduler: str = "ddim", prediction_type: str = "epsilon"):
        if (scheduler, prediction_type) not in built:
            built[(scheduler, prediction_type)] = tiny_models.save_tiny_stable_diffusion(
                root / f"{scheduler}-{prediction_type}", scheduler, prediction_type)
        return built[(scheduler, prediction_type)]

    return folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip model folder (the CLIPScore verifier of the diffusers tests), built once."""
    from noisesearch_plugins.testing import tiny_models

    return tiny_models.save_tiny_open_clip(tmp_path_factory.mktemp("tiny-clip") / "clip")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A finished digits run made by the command as a user makes one (``DIGITS_RUN``: random search, 12 searches of
    16 candidates): its folder and the finished process (stdout, stderr). Read only."""
    out = tmp_path_factory.mktemp("digits-run") / "run"
    done = run_cli(*DIGITS_RUN, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done
