"""A plugin written against the previous plugin API (tests/old_plugin: API 1, every extension point it had),
pip-installed: listed with the version it targets, adapted with one warning and running to the same results as its
updated twin, or refused in one line before any model loads; the shipped conformance suites run on it."""

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, run_cli

PLUGIN = ROOT / "tests" / "old_plugin"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("old-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, text=True)
    return {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def test_list_shows_each_plugins_target_and_flags_the_old_one(site):
    done = run_cli("list", env=site)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("plugins (distribution")[1]
    assert "oldtoy               noisesearch-oldtoy 1.0.0, API 1 (undeclared" in lines
    assert "old-toy, old-whole-toy adapted until noisesearch 0.3.0" in " ".join(lines.split())
    assert "newtoy               noisesearch-oldtoy 1.0.0, API 3:" in lines
    assert "mute, twisted-toy refused" in " ".join(lines.split())
    listed = json.loads(run_cli("list", "--json", env=site).stdout)
    old = next(entry for entry in listed["pipelines"] if entry["name"] == "old-toy")
    assert old["api"] == 1 and old["declared"] is None and old["notes"] and old["problem"] is None
    assert listed["api_version"] == 3


@pytest.mark.parametrize("world", ["toy", "whole-toy"])
def test_the_old_plugin_is_adapted_once_and_gives_its_updated_twins_results(site, tmp_path, world):
    runs = {}
    for version in ("old", "new"):
        done = run_cli("predict", "--model.pipeline", f"{version}-{world}", "--model.verifiers",
                       f"{version}-closeness", "--model.algorithm", f"{version}-best-of", "--data.classes", "0-3",
                       "--model.guidance", "1.5", "--out", str(tmp_path / version), env=site)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[version] = (json.loads((tmp_path / version / "summary.json").read_text()), done.stderr)
    warnings = [line for line in runs["old"][1].splitlines() if "written for plugin API 1" in line]
    assert len(warnings) == 1 and "adapted until noisesearch 0.3.0" in warnings[0] and "Traceback" not in runs["old"][1]
    assert "plugin API" not in runs["new"][1]
    old, new = (runs[v][0]["results"] for v in ("old", "new"))
    assert [(r["candidate"], r["score"], r["nfe"]) for r in old] == [(r["candidate"], r["score"], r["nfe"]) for r in new]
    for a, b in zip(old, new):
        assert (tmp_path / "old" / a["image"]).read_bytes() == (tmp_path / "new" / b["image"]).read_bytes()


@pytest.mark.parametrize("pipeline, verifier, refused", [
    ("twisted-toy", "old-closeness", "plugin 'broken' (noisesearch-oldtoy 1.0.0): Twisted.denoise takes 5 arguments"),
    ("old-toy", "mute", "plugin 'broken' (noisesearch-oldtoy 1.0.0): Mute.score is missing")])
def test_what_cannot_be_adapted_is_refused_in_one_line_before_any_model_loads(site, tmp_path, pipeline, verifier,
                                                                              refused):
    done = run_cli("predict", "--model.pipeline", pipeline, "--model.verifiers", verifier, "--data.classes", "0",
                   "--out", str(tmp_path / "run"), env=site)
    assert done.returncode == 2 and refused in done.stderr and "docs/plugins.md#api-versions" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2  # the refusal, a warning
    assert not (tmp_path / "run").exists()


def test_the_conformance_suites_run_on_the_old_plugin_as_adapted(site):
    code = ("from noisesearch import registry; from noisesearch.conditions import Condition\n"
            "from noisesearch.testing.pipelines import check_pipeline\n"
            "from noisesearch.testing.algorithms import check_algorithm\n"
            "from noisesearch.testing.verifiers import check_verifier, sample_images\n"
            "import warnings; warnings.simplefilter('ignore')\n"
            "conditions = [Condition(class_label=i) for i in range(4)]\n"
            "for name in ('old-toy', 'old-whole-toy'):\n"
            "    check_pipeline(registry.lookup('pipelines', name).cls, conditions)\n"
            "check_algorithm(registry.lookup('algorithms', 'old-best-of').cls, {'n': 4})\n"
            "check_verifier(registry.lookup('verifiers', 'old-closeness').cls(), conditions, sample_images(4, 1, 8))\n"
            "print('conforms')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **site},
                          timeout=600)
    assert done.returncode == 0 and "conforms" in done.stdout, done.stderr[-3000:]
