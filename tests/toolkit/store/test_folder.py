"""The run folder: one owner of its layout; clearing a run touches nothing else in the folder."""

import json

import numpy as np
import pytest
from PIL import Image

from noisesearch.store.run_records import RunHeader
from noisesearch.errors import UsageError
from noisesearch.store.folder import RunDir


def test_clear_removes_a_run_and_keeps_the_users_files(tmp_path):
    run = RunDir(tmp_path)
    run.prepare()
    run.write_config("seed_everything: 0\n")
    run.write_fingerprint(RunHeader.from_json({"seed": 0}))
    (tmp_path / "notes.txt").write_text("mine")
    assert run.holds_run() and run.can_resume() and not run.is_finished()
    run.clear()
    assert not run.holds_run() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_load_images_reads_back_what_a_run_wrote(tmp_path):
    run = RunDir(tmp_path)
    run.prepare()
    stem = RunDir.stem(3, "class7", 1)
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    Image.fromarray(pixels).save(run.file(RunDir.image_name(stem)))
    written = {"results": [{"index": 3, "condition": {"class_label": 7}, "repeat": 1, "image": RunDir.image_name(stem),
                            "noise": RunDir.noise_name(stem), "candidate": 0, "score": 1.0, "scores": {"v": 1.0},
                            "nfe": 7, "candidates": 1, "replayable": True}]}
    (tmp_path / "summary.json").write_text(json.dumps(written))
    images, conditions, summary = run.load_images()
    assert stem == "0003-class7-r1" and conditions[0].class_label == 7
    assert images.shape == (1, 3, 4, 4)
    assert np.array_equal((images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), pixels)
    assert summary.results[0].image == RunDir.image_name(stem) and summary.to_json()["results"] == written["results"]


def test_a_folder_without_a_finished_run_is_refused_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="holds no finished run"):
        RunDir(tmp_path).read_summary()
