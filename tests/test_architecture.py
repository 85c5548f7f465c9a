"""The house: import contracts hold (no cycles, the core imports no plugin), and the command starts light."""

import json
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

HEAVY = ("lightning", "diffusers", "transformers", "open_clip", "torchmetrics")


def test_the_import_contracts_in_pyproject_hold():
    done = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["--help"], ["--version"], ["convert", "--help"],
                                  ["show", "/no/such/run"]])
def test_light_commands_import_no_heavy_library(args):
    """`noisesearch list` and `--help` load every plugin's classes, and none of Lightning or the model libraries."""
    code = ("import contextlib, io, json, sys\n"
            "from noisesearch.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n"
            f"        main({args!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_import_noisesearch_and_the_plugin_api_stay_light():
    code = ("import json, sys, noisesearch, noisesearch.plugin, noisesearch.engine\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_plugin_api_names_what_docs_plugins_md_uses():
    import noisesearch.plugin as api

    for name in ("hookimpl", "SearchAlgorithm", "Proposal", "Outcome", "SearchContext", "NoiseSpec", "Verifier",
                 "Pipeline", "Condition", "frames", "UsageError"):
        assert hasattr(api, name), name
    docs = (ROOT / "docs" / "plugins.md").read_text()
    imported = {line.split(" import ")[0] for line in docs.splitlines() if line.strip().startswith("from noisesearch")}
    suites = {line for line in imported if line.startswith("from noisesearch.testing")}
    assert imported - suites == {"from noisesearch.plugin"}, imported


def test_the_lazy_names_of_the_package_still_resolve():
    import noisesearch

    assert callable(noisesearch.search) and noisesearch.SearchModule.__name__ == "SearchModule"
    with pytest.raises(AttributeError):
        noisesearch.no_such_name
