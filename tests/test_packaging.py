"""The project as a user installs it: a wheel (not an editable install) in an environment of its own, whose
`noisesearch list`, `predict` on the embedded digits world and `distill --help` work, and whose build warns of
nothing (every package found, the weight folders data)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this tree and installed alone into a folder; the libraries it needs are linked in from
    this environment, the project's own editable install is not."""
    root = tmp_path_factory.mktemp("installed")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(root / "wheel"), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    assert "BuildBackendWarning" not in built.stderr + built.stdout and "absent from" not in built.stderr
    (wheel,) = (root / "wheel").glob("noisesearch-*.whl")
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    libraries = root / "libraries"
    libraries.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(("noisesearch", "__editable__")) and entry.suffix != ".pth":
            (libraries / entry.name).symlink_to(entry)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target",
                           str(root / "install"), str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def noisesearch(installed: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command, on a Python that reads no site-packages but the install and the libraries."""
    env = {**os.environ, "PYTHONPATH": f"{installed / 'install'}{os.pathsep}{installed / 'libraries'}",
           "HF_HUB_OFFLINE": "1"}
    code = "import sys; from noisesearch.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-S", "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def test_the_installed_package_is_the_wheel_and_lists_every_plugin(installed, tmp_path):
    done = noisesearch(installed, "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("random", "halving", "digits-classifier", "shapes-clip", "digits", "shapes", "diffusers"):
        assert f"  {name} " in done.stdout
    where = subprocess.run([sys.executable, "-S", "-c", "import noisesearch, noisesearch_plugins.digits as d; "
                            "print(noisesearch.__file__); print(d.__file__)"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": f"{installed / 'install'}{os.pathsep}"
                                f"{installed / 'libraries'}"})
    assert all(line.startswith(str(installed / "install")) for line in where.stdout.split())


def test_the_installed_package_predicts_on_digits_with_its_own_weights(installed, tmp_path):
    done = noisesearch(installed, "predict", "--data.classes", "3", "--model.budget_nfe", "14", "--out",
                       str(tmp_path / "run"), "--quiet", "true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "summary.json").is_file() and (tmp_path / "run" / "report.html").is_file()


def test_the_installed_package_ships_distill(installed, tmp_path):
    done = noisesearch(installed, "distill", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "--held_out_trajectories" in done.stdout, done.stderr[-2000:]
