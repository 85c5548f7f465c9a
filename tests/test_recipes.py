"""Every recipe in configs/recipes parses against the current options (types and names), without loading models."""

from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from noisesearch.cli import main

RECIPES = sorted((ROOT / "configs" / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_recipe_parses(recipe: Path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["predict", "--config", str(recipe), "--print_config"])
    assert stop.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    written = yaml.safe_load(recipe.read_text())
    for key, value in written["model"].items():
        assert printed["model"][key] == value, key


def test_the_recipes_cover_the_families_the_paper_uses():
    assert {path.stem for path in RECIPES} >= {"flux-dev", "sd35", "sdxl", "pixart-sigma", "dit-xl"}


@pytest.mark.parametrize("study", sorted((ROOT / "configs" / "bench").glob("*.yaml")), ids=lambda path: path.stem)
def test_bench_config_parses(study: Path):
    from noisesearch.bench.runner import parse

    parsed, _ = parse(["--config", str(study), "--out", "unused"])
    written = yaml.safe_load(study.read_text())
    assert parsed.pipeline == written["pipeline"] and parsed.evaluator == written.get("evaluator")
