"""Every built-in pipeline passes the shipped PipelineSuite: schedules fall to 0, select is per row, a batch equals
its rows, images lie in [0, 1] at the configured size (noisesearch.testing.pipelines)."""

import pytest
import torch

from noisesearch.conditions import Condition
from noisesearch.pipeline import RunSpec
from noisesearch.testing import pipelines
from noisesearch.testing.pipelines import PipelineSuite
from noisesearch.testing.toys import ToyClassFamily, ToyMixture, ToyPromptFamily
from noisesearch_plugins.digits.pipeline import DigitsFamily
from noisesearch_plugins.shapes.pipeline import ShapesFamily

CLASSES = [Condition(class_label=3), Condition(class_label=7), Condition(class_label=1)]
PROMPTS = [Condition(prompt="two red circles"), Condition(prompt="a blue square"), Condition(prompt="a green triangle")]


class TestDigits(PipelineSuite):
    family = DigitsFamily
    conditions = CLASSES


class TestShapesGuided(PipelineSuite):
    family = ShapesFamily
    conditions = PROMPTS
    run = RunSpec(2, 3.0, 32, 32, "heun")


class TestToyClass(PipelineSuite):
    family = ToyClassFamily
    conditions = CLASSES


class TestToyPrompt(PipelineSuite):
    family = ToyPromptFamily
    conditions = PROMPTS[:2]


@pytest.fixture(scope="module")
def sd_folder(tiny_sd):
    return tiny_sd("ddim")


@pytest.mark.parametrize("mode", ["whole", "native"])
def test_diffusers_in_both_modes(sd_folder, mode):
    from noisesearch.plugin import registered
    from noisesearch.resolve import resolve_pipeline

    family, source = resolve_pipeline(str(sd_folder))
    algorithm = registered("algorithms")["random" if mode == "whole" else "halving"]
    family = family.for_search(mode, algorithm, [])
    assert family.whole == (mode == "whole")
    pipelines.check_pipeline(family, PROMPTS[:2], source, RunSpec(2, 2.0, 32, 32, family.default_sampler))


def test_the_suite_fails_a_pipeline_whose_rows_depend_on_the_batch():
    class Leaky(ToyMixture):
        def denoise(self, x, sigma, means):
            return super().denoise(x, sigma, means) + x.mean(0, keepdim=True) * 0.1

    class LeakyFamily(ToyClassFamily, pipeline=Leaky):
        pass

    with pytest.raises(AssertionError):
        pipelines.check_pipeline(LeakyFamily, CLASSES)


def test_the_suite_fails_images_out_of_range():
    class Bright(ToyMixture):
        def decode(self, x0):
            return super().decode(x0) + 0.5

    class BrightFamily(ToyClassFamily, pipeline=Bright):
        pass

    with pytest.raises(AssertionError, match=r"\[0, 1\]"):
        pipelines.check_pipeline(BrightFamily, CLASSES)


def test_configure_hands_the_run_over_once():
    pipeline = pipelines.load(ShapesFamily, run=RunSpec(3, 1.0, 32, 32, "euler"))[1]
    assert pipeline.run == RunSpec(3, 1.0, 32, 32, "euler")
    x = torch.zeros(1, *pipeline.latent_shape(32, 32))
    cond = pipeline.select(pipeline.encode(PROMPTS[:1]), torch.tensor([0]))
    unguided = pipeline.denoise(x, torch.tensor([5.0]), cond)
    pipeline.configure(RunSpec(3, 4.0, 32, 32, "euler"))
    assert not torch.equal(unguided, pipeline.denoise(x, torch.tensor([5.0]), cond))  # guidance read from the run
