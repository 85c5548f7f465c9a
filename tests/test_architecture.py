"""The house: import contracts hold (no cycles, the core imports no plugin), and the command starts light."""

import json
import subprocess
import sys

import pytest

from helpers import BIN, ROOT

HEAVY = ("lightning", "diffusers", "transformers", "open_clip", "torchmetrics")


@pytest.mark.slow
def test_the_import_contracts_in_pyproject_hold():
    done = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


# the tooling modules of the worlds (model cards, evaluators) may use these parts of the core as well
TOOLING = ["noisesearch_plugins.digits.card -> noisesearch.api",
           "noisesearch_plugins.digits.evaluation -> noisesearch.store.folder",
           "noisesearch_plugins.worlds.judging -> noisesearch.api",
           "noisesearch_plugins.shapes.card -> noisesearch.bench.metrics",
           "noisesearch_plugins.shapes.evaluation -> noisesearch.bench.metrics",
           "noisesearch_plugins.shapes.evaluation -> noisesearch.store.folder",
           "noisesearch_plugins.motion.card -> noisesearch.bench.metrics",
           "noisesearch_plugins.motion.evaluation -> noisesearch.bench.metrics",
           "noisesearch_plugins.motion.evaluation -> noisesearch.store.folder"]


def core_modules() -> list[str]:
    """Every module and package directly under the core (toolkit/), as the import names plugins would use."""
    root = ROOT / "toolkit"
    names = [path.stem for path in root.glob("*.py") if path.stem != "__init__"]
    names += [path.name for path in root.iterdir() if (path / "__init__.py").is_file()]
    return sorted(f"noisesearch.{name}" for name in names)


@pytest.mark.slow
def test_built_in_plugins_reach_the_core_through_the_plugin_api_only(tmp_path):
    """The contract is derived from the package, not typed: every core module but ``plugin`` is forbidden to the
    built-in plugins (a new module is covered the day it lands), and the package root itself."""
    forbidden = [name for name in core_modules() if name != "noisesearch.plugin"]
    assert "noisesearch.engine" in forbidden and "noisesearch.distill" in forbidden
    config = tmp_path / "plugins.toml"
    config.write_text("[tool.importlinter]\nroot_packages = [\"noisesearch\", \"noisesearch_plugins\"]\n"
                      "exclude_type_checking_imports = true\n\n[[tool.importlinter.contracts]]\n"
                      "name = \"Built-in plugins reach the core through noisesearch.plugin\"\n"
                      "type = \"forbidden\"\nsource_modules = [\"noisesearch_plugins\"]\n"
                      f"forbidden_modules = {json.dumps(forbidden)}\nallow_indirect_imports = true\n"
                      f"ignore_imports = {json.dumps(TOOLING)}\n")
    done = subprocess.run([str(BIN / "lint-imports"), "--no-cache", "--config", str(config)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout[-3000:]
    bare = [line for path in (ROOT / "plugins").rglob("*.py") for line in path.read_text().splitlines()
            if line.strip().startswith("from noisesearch import")]
    assert not bare, f"a plugin imports the package root: {bare[0]}"


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["--help"], ["--version"], ["convert", "--help"],
                                  ["show", "/no/such/run"]])
@pytest.mark.slow
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


@pytest.mark.slow
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
