"""Model settings declared once (noisesearch.model_args.ModelArgs): the LightningModule's signature and help, build,
run.json, config.yaml, preflight and the resume fingerprint all follow the one declaration; every setting is walked
through a config file, run.json and resume."""

import inspect
import json

import pytest
import yaml

from noisesearch import model_args
from noisesearch.errors import UsageError
from noisesearch.lightning.module import SearchModule
from noisesearch.run.session import RunSession
from noisesearch.run.settings import build
from noisesearch_plugins.digits.networks import WEIGHTS

# one non-default value of every setting that a digits run can take at once
GIVEN = {"pipeline": "digits", "algorithm": "zero-order", "algorithm_args": {"n": 2, "lam": 0.5},
         "verifiers": ["digits-classifier", "self-supervised:digits-classifier"], "budget_nfe": 40, "steps": 3,
         "guidance": 1.5, "sampler": "euler", "batch_size": 3, "height": 16, "width": 16, "shard": "candidates",
         "ensemble": "weighted", "verifier_weights": [1.0, 2.0], "verifier_device": "cpu", "dtype": "fp32",
         "mode": "native", "keep_images": 2, "compile": "off", "preview_size": 8, "pad_chunks": True, "background_writes": False,
         "baseline": False, "clip_frames": 4, "clip_aggregate": "min"}
ONE = {"verifiers": ["digits-classifier"], "ensemble": "rank", "verifier_weights": None, "preview_size": None}
ANOTHER = {"algorithm_args": {"algorithm_args": {"n": 2, "lam": 0.6}}, "budget_nfe": {"budget_nfe": 44},
           "steps": {"steps": 4}, "guidance": {"guidance": 2.0}, "sampler": {"sampler": "heun"},
           "dtype": {"dtype": "bf16"}, "preview_size": {"preview_size": 12}, "budget_seconds": {"budget_seconds": 9.0},
           "algorithm": {"algorithm": "random", "algorithm_args": None, "preview_size": None,
                         "verifiers": ["digits-classifier"], "ensemble": "rank", "verifier_weights": None},
           "verifiers": ONE, "ensemble": {**ONE, "verifiers": GIVEN["verifiers"], "preview_size": 8},
           "verifier_weights": {"verifier_weights": [2.0, 1.0]}, "pad_chunks": {"pad_chunks": False},
           "pipeline": {"pipeline": str(WEIGHTS)}, "clip_frames": {"clip_frames": 2},
           "clip_aggregate": {"clip_aggregate": "last"}, "budget_scope": {"budget_scope": "run"}}
# digits has one mode, size and compile setting, makes images, not clips (preview_frames: test_diffusers_video), and
# one verifier of finished images (a guard must be another)
SKIPPED = {"offload", "preview_decoder", "preview_frames", "height", "width", "compile", "mode", "frames", "frame_rate",
           "guard", "guard_keep"}


def test_the_declaration_is_the_modules_signature_help_and_builds_names():
    signature = inspect.signature(SearchModule.__init__)
    assert list(signature.parameters)[1:] == list(model_args.NAMES)
    for field in model_args.FIELDS:
        assert signature.parameters[field.name].default == field.default
        assert field.metadata["help"][:40] in SearchModule.__doc__
    with pytest.raises(UsageError, match="model.budgett is no setting; did you mean 'budget_nfe'"):
        build(budgett=3)


def test_every_setting_goes_through_a_config_file_run_json_and_resume(in_process, tmp_path):
    assert set(model_args.RECORDED) - set(model_args.MEMORY_ONLY) - SKIPPED <= set(ANOTHER)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": GIVEN, "data": {"classes": "2,5"}}))
    out = tmp_path / "run"
    done = in_process("predict", "--config", str(config), "--out", str(out), "--quiet", "true")
    assert done.returncode == 0, done.stderr[-2000:]
    recorded = json.loads((out / "run.json").read_text())
    saved = yaml.safe_load((out / "config.yaml").read_text())["model"]
    for name, value in GIVEN.items():
        assert saved[name] == value, name
        if name in model_args.RECORDED:
            expected = {**recorded[name], **value} if name == "algorithm_args" else value  # with its defaults
            assert recorded[name] == expected, name
        else:
            assert name not in recorded, f"{name} changes no result and is not fingerprinted"
    settings = build(**GIVEN)
    for name in model_args.RECORDED:
        if name in SKIPPED:
            continue
        if name in model_args.MEMORY_ONLY:
            flipped = {**GIVEN, name: not getattr(settings.args, name)}
            RunSession(build(**flipped), out, resume=True).check_folder()  # memory-only: free to change on resume
        else:
            with pytest.raises(UsageError, match=f"cannot resume .*{name} "):
                RunSession(build(**{**GIVEN, **ANOTHER[name]}), out, resume=True).check_folder()
    assert in_process("resume", str(out)).returncode == 0  # unchanged: resumes (nothing left to do)
