"""`noisesearch compare DIR DIR`: runs side by side, in the terminal and in one page of their chosen images."""

import json
import re

import noisesearch


def test_two_runs_side_by_side(in_process, tmp_path):
    noisesearch.search(classes=[3, 7], algorithm="random", budget_nfe=28, out=tmp_path / "random")
    noisesearch.search(classes=[3, 7], algorithm="halving", budget_nfe=28, out=tmp_path / "halving")
    page = tmp_path / "page.html"
    done = in_process("compare", str(tmp_path / "random"), str(tmp_path / "halving"), "--out", str(page))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["run", "algorithm"]  # the setting that differs comes right after the name
    assert lines[1].split()[:2] == ["random", "random"] and lines[2].split()[:2] == ["halving", "halving"]
    text = page.read_text()
    assert len(re.findall(r"<img src='data:image/png;base64,", text)) == 4  # 2 searches x 2 runs
    assert "<tr class='differs'><th>algorithm</th>" in text
    for name, line in (("random", lines[1]), ("halving", lines[2])):  # the judge's verdicts, halving's baseline too
        results = json.loads((tmp_path / name / "summary.json").read_text())["results"]
        chosen, first = sum(r["verdict"] for r in results), sum(r["first_verdict"] for r in results)
        assert re.search(rf"\s{chosen} of 2\s+{first} of 2\s", line), line
    assert len(re.findall(r"<span class='verdict (?:correct|wrong)'>", text)) == 4
    beside = in_process("compare", str(tmp_path / "random"), str(tmp_path / "halving"))  # no --out: beside the runs
    assert beside.returncode == 0 and (tmp_path / "compare.html").is_file()
    assert f"wrote {tmp_path / 'compare.html'}" in beside.stdout


def test_compare_needs_two_finished_runs(in_process, tmp_path):
    done = in_process("compare", str(tmp_path))
    assert done.returncode == 2 and "usage: noisesearch compare" in done.stderr
    done = in_process("compare", str(tmp_path), str(tmp_path))
    assert done.returncode == 2 and "holds no finished run" in done.stderr
