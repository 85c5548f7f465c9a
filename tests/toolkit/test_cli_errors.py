"""Bad input fails before any model loads: one line naming the problem and the fix, exit code 2, no traceback."""

import pytest

from helpers import run_cli
from noisesearch.cli import main


def run_in_process(capsys, *args):
    """Call the CLI's main() in this process (fast); returns (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err

CASES = {
    "unknown pipeline": (["--model.pipeline", "no-such-model"], "unknown pipeline 'no-such-model'"),
    "unknown algorithm": (["--model.algorithm", "annealing"], "known algorithms:"),
    "unknown verifier": (["--model.verifiers", "[nope]"], "known verifiers:"),
    "budget below one sample": (["--model.budget_nfe", "5"], "below one sample"),
    "zero budget": (["--model.budget_nfe", "0"], "budget_nfe"),
    "class out of range": (["--data.classes", "12"], "out of range"),
    "malformed classes": (["--data.classes", "3-x"], "malformed data.classes"),
    "missing prompts file": (["--data.prompts_file", "nowhere.txt"], "does not exist"),
    "prompt on a class model": (["--data.prompts", "[a red circle]"], "class-conditional"),
    "negative size": (["--model.height", "-16"], "height"),
    "zero size": (["--model.width", "0"], "width"),
    "size the model cannot make": (["--model.height", "32"], "16x16 images only"),
    "bad hyperparameter": (["--model.algorithm_args", "{n: 0}"], "positive integer"),
    "unknown hyperparameter": (["--model.algorithm_args", "{lam: 2}"], "no hyperparameter 'lam'"),
    "zero per_condition": (["--data.per_condition", "0"], "per_condition"),
    "verifier on a missing device": (["--model.verifier_device", "cuda:7"], "CUDA devices"),
    "verifier on no device": (["--model.verifier_device", "abacus"], "is no device"),
    "verifier spec with an unknown option": (["--model.pipeline", "toy-prompt", "--data.prompts", "[a]",
                                              "--model.verifiers", '["clip:model=x,size=3"]'], "unknown option"),
    "vlm without a key": (["--model.pipeline", "toy-prompt", "--data.prompts", "[a]", "--model.verifiers",
                           '["vlm:model=m,base_url=http://127.0.0.1:9,key_env=NOISESEARCH_NO_SUCH_KEY"]'],
                          "NOISESEARCH_NO_SUCH_KEY, which is not set"),
    "fp16 on a CPU": (["--model.dtype", "fp16"], "fp16 needs a GPU"),
    "hpsv2 without weights": (["--model.pipeline", "toy-prompt", "--data.prompts", "[a]",
                               "--model.verifiers", "[hpsv2]"], "noisesearch convert"),
}


@pytest.mark.parametrize("name", list(CASES), ids=str)
def test_bad_argument(name, tmp_path, capsys):
    args, message = CASES[name]
    code, out, err = run_in_process(capsys, "predict", *args, "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err + out
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.slow
def test_bad_argument_from_the_shell(tmp_path):
    """One refusal through the installed command: the exit code and the one line reach the shell (every case above
    runs in-process)."""
    args, message = CASES["prompt on a class model"]
    done = run_cli("predict", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_folder_that_is_no_pipeline(tmp_path, capsys):
    code, _, err = run_in_process(capsys, "predict", "--model.pipeline", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 2 and "is no pipeline" in err and "Traceback" not in err


def test_malformed_yaml(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  algorithm: [random\n")
    code, _, err = run_in_process(capsys, "predict", "--config", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in err


def test_unknown_command(capsys):
    code, _, err = run_in_process(capsys, "frobnicate")
    assert code == 2 and "unknown command 'frobnicate'" in err


def test_existing_run_is_kept(tmp_path, capsys):
    (tmp_path / "summary.json").write_text("{}")
    code, _, err = run_in_process(capsys, "predict", "--data.classes", "3", "--out", str(tmp_path))
    assert code == 2 and "already holds a run" in err
    assert (tmp_path / "summary.json").read_text() == "{}"
