"""Mistakes on the command line are refused before Lightning loads, in one line, with the fix and a guess at what
was meant; config-layer mistakes LightningCLI finds are one line too; `predict --help` puts the project first."""

import subprocess
import sys

import pytest

from helpers import ROOT

REFUSED = {
    "missing config": (["--config", "configs/digit.yaml"], "--config configs/digit.yaml does not exist"),
    "negative budget": (["--model.budget_nfe", "-10"], "model.budget_nfe=-10: give a positive whole number"),
    "misspelt option": (["--model.budgett", "100"], "did you mean 'budget_nfe'?"),
    "misspelt algorithm": (["--model.algorithm", "halvng"], "did you mean 'halving'?"),
    "misspelt data key": (["--data.clases", "3"], "did you mean 'classes'?"),
    "malformed yaml": (["--config", "{bad}"], "no valid YAML"),
}


@pytest.mark.parametrize("name", list(REFUSED), ids=str)
@pytest.mark.slow
def test_refused_without_importing_lightning(name, tmp_path):
    args, message = REFUSED[name]
    if name == "malformed yaml":
        bad = tmp_path / "bad.yaml"
        bad.write_text("model:\n  algorithm: [random\n")
        args = ["--config", str(bad)]
    code = ("import sys\nfrom noisesearch.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as stop:\n"
            "    print(stop.code, any(m.split('.')[0] == 'lightning' for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "predict", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("noisesearch: error: ") and message in lines[0]


def test_one_verifier_name_is_taken_as_a_list(in_process, tmp_path):
    done = in_process("predict", "--model.verifiers", "digits-classifier", "--data.classes", "3",
                      "--model.budget_nfe", "14", "--quiet", "true", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"verifiers": [\n    "digits-classifier"\n  ]' in (tmp_path / "run" / "summary.json").read_text()


def test_config_layer_mistakes_are_one_line(in_process, tmp_path):
    done = in_process("predict", "--model.guidance", "abc", "--out", str(tmp_path / "run"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "model.guidance" in lines[0] and "float" in lines[0]
    assert "usage:" not in done.stderr and "<class" not in done.stderr


def test_help_puts_the_projects_options_first_and_hides_training_only_ones(in_process):
    lean = in_process("predict", "--help").stdout
    headings = [line for line in lean.splitlines() if line and not line.startswith(" ")]
    assert headings[0].startswith("usage:") and headings[1].startswith("Search (model.*)") and headings[-1].startswith("Devices and processes")
    assert "--trainer.max_epochs" not in lean and "--ckpt_path" not in lean and "<lambda>" not in lean
    assert "``" not in lean and "--trainer.devices" in lean and "--model.budget_nfe" in lean
    full = in_process("predict", "--help-all").stdout
    assert "--trainer.max_epochs" in full and len(full.splitlines()) > len(lean.splitlines())


@pytest.mark.slow
def test_resume_refuses_or_finds_nothing_to_do_without_importing_lightning(tmp_path):
    import noisesearch

    noisesearch.search(classes=[3], budget_nfe=14, out=tmp_path / "done")
    code = ("import sys\nfrom noisesearch.cli import main\ntry:\n    code = main(sys.argv[1:])\nexcept SystemExit as stop:\n"
            "    code = stop.code\nprint(code, any(m.split('.')[0] == 'lightning' for m in sys.modules))")
    for folder, expected, said in ((tmp_path / "nothing", "2", "is no noisesearch run to resume"),
                                   (tmp_path / "done", "0", "already finished every search")):
        done = subprocess.run([sys.executable, "-c", code, "resume", str(folder)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
        assert done.stdout.split()[-2:] == [expected, "False"], done.stdout + done.stderr[-2000:]
        assert said in done.stdout + done.stderr and "Traceback" not in done.stderr
