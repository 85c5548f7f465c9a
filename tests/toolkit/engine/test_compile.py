"""``model.compile``: the denoiser network compiled (whole or by repeated blocks), chunks padded to one size so it
never recompiles mid-run, padded rows never charged or journaled, the warm-up reported apart, and eager results
kept to float rounding."""

import json

import pytest
import torch

import noisesearch
from noisesearch.errors import UsageError
from noisesearch.store.journal import read_run

PROMPTS = ["a red circle", "two blue squares"]


def searched(tmp_path, name, **settings):
    out = tmp_path / name
    results = noisesearch.search(prompts=PROMPTS, algorithm="random", budget_nfe=4 * 30, out=out, **settings)
    return results, json.loads((out / "summary.json").read_text()), out


def graphs_compiled(tmp_path, name, **settings):
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    results, summary, out = searched(tmp_path, name, compile="regional", **settings)
    return counters["stats"]["unique_graphs"], results, summary, out


def test_padded_chunks_compile_one_size_and_charge_only_real_rows(tmp_path):
    # 8 candidates in chunks of 3: 3, 3 and 2 rows, the last padded to 3; in chunks of 2 every chunk is full
    graphs, results, summary, out = graphs_compiled(tmp_path, "three", batch_size=3)
    full, _, _, _ = graphs_compiled(tmp_path, "two", batch_size=2)
    assert graphs == full > 0  # without padding the 2-row chunk would compile graphs of its own
    assert summary["nfe_used"] == 2 * 4 * 30 and [r.nfe for r in results] == [120, 120]
    candidates, _ = read_run(out / "journal")
    assert len(candidates) == 8
    assert summary["compile"] == "regional" and summary["compile_warmup_s"] > 0


def test_compiled_results_are_eager_results_to_float_rounding(tmp_path):
    eager, eager_summary, _ = searched(tmp_path, "eager", batch_size=3)
    _, compiled, summary, _ = graphs_compiled(tmp_path, "compiled", batch_size=3)
    assert "compile_warmup_s" not in eager_summary
    assert [r.candidate for r in compiled] == [r.candidate for r in eager]
    for ours, theirs in zip(compiled, eager):
        assert ours.score == pytest.approx(theirs.score, rel=1e-4)
        assert torch.allclose(ours.image, theirs.image, atol=2 / 255)


def test_a_run_resumes_only_under_the_compile_setting_it_started_with(tmp_path):
    out = tmp_path / "run"
    noisesearch.search(prompts=PROMPTS[:1], algorithm="random", budget_nfe=2 * 30, out=out)
    with pytest.raises(UsageError, match="compile 'off' -> 'regional'"):
        noisesearch.search(prompts=PROMPTS[:1], algorithm="random", budget_nfe=2 * 30, out=out, resume=True,
                           compile="regional")


def test_compile_settings_that_cannot_apply_are_refused_in_one_line():
    with pytest.raises(UsageError, match="declares no repeated block.*use model.compile denoiser"):
        noisesearch.search(classes=[1], budget_nfe=22, compile="regional")  # digits' UNet2DModel has none
    with pytest.raises(UsageError, match="model.compile='fast': use off, denoiser, regional"):
        noisesearch.search(classes=[1], budget_nfe=22, compile="fast")
