"""A third-party plugin package, pip-installed into the test environment, is found and usable from the CLI."""

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, run_cli

pytestmark = pytest.mark.slow  # a wheel build, and the command in processes

PLUGIN = ROOT / "tests" / "example_plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """pip-install the example plugin (a real wheel build) into a folder put on the test environment's path."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, text=True,
    )
    return {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def test_list_shows_the_plugin_and_its_distribution(site):
    done = run_cli("list", env=site)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert "Mean pixel brightness" in lines["brightness"]
    assert lines["example"].split()[1:5] == ["noisesearch-example-plugin", "0.1.0,", "API", "3:"]
    assert "brightness" in lines["example"] and "early-stop" in lines["example"]


def test_plugin_verifier_and_algorithm_drive_a_search(site, tmp_path):
    done = run_cli("predict", "--data.classes", "1,8", "--model.algorithm", "early-stop",
                   "--model.algorithm_args", "{k: 4}", "--model.verifiers", "[brightness, digits-classifier]",
                   "--out", str(tmp_path), env=site)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["algorithm"] == "early-stop"
    for record in summary["results"]:
        assert set(record["scores"]) == {"brightness", "digits-classifier"}
        assert record["candidates"] == 16 and record["nfe"] == 16 * 7


def test_plugin_algorithm_passes_the_conformance_suite(site):
    code = "from noisesearch_example import EarlyStop; from noisesearch.testing.algorithms import check_algorithm; " \
           "check_algorithm(EarlyStop, {'k': 2}); print('conforms')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **site})
    assert done.returncode == 0 and "conforms" in done.stdout, done.stderr[-2000:]


def test_plugin_hyperparameter_errors_are_clean(site, tmp_path):
    done = run_cli("predict", "--model.algorithm", "early-stop", "--model.algorithm_args", "{k: 0}",
                   "--out", str(tmp_path), env=site)
    assert done.returncode == 2 and "k=0 must be at least 1" in done.stderr and "Traceback" not in done.stderr


def test_gradient_search_refuses_a_verifier_that_is_not_differentiable(site, tmp_path):
    done = run_cli("predict", "--model.algorithm", "gradient", "--model.verifiers", "[brightness]",
                   "--out", str(tmp_path / "out"), env=site)
    assert done.returncode == 2 and "brightness is not differentiable" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_plugin_verifier_conforms(site):
    code = ("from noisesearch_example import Brightness; from noisesearch.conditions import Condition; "
            "from noisesearch.testing.verifiers import check_verifier, sample_images; "
            "check_verifier(Brightness(), [Condition(class_label=i) for i in range(6)], sample_images()); "
            "print('conforms')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **site})
    assert done.returncode == 0 and "conforms" in done.stdout, done.stderr[-2000:]
