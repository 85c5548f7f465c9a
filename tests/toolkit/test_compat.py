"""Plugin classes checked when plugins load: API 3 used as it is, API 1 and 2 forms adapted (one warning, the same
results), what fits no version refused in one line naming plugin, distribution, method and the fix."""

import types
import warnings

import pluggy
import pytest
import torch

from noisesearch import compat, hookspecs, registry
from noisesearch.conditions import Condition
from noisesearch.engine import Executor, SearchSettings, Task
from noisesearch.pipeline import ClassFamily, Pipeline
from noisesearch.testing.toys import ToyClassFamily, ToyMixture, ToyVerifier
from noisesearch_plugins.algorithms import RandomSearch


class ApiOneToy(ToyMixture):
    """The toy world as plugin API 1 wrote it: its description in class attributes, the run's settings at every
    call."""

    name = "api1-toy"
    condition_kind = "class"
    num_classes = 4
    default_steps = 4
    default_height = default_width = 8

    def configure(self, steps, guidance, height, width, sampler):
        self.seen = (steps, guidance, height, width, sampler)

    def denoise(self, x, sigma, means, guidance):
        return super().denoise(x, sigma, means) * guidance


class ApiThreeToy(ToyMixture):
    def denoise(self, x, sigma, means):
        return super().denoise(x, sigma, means) * self.run.guidance


class ApiThreeFamily(ToyClassFamily, pipeline=ApiThreeToy):
    name = "api3-toy"


def index_of(classes, kind="pipelines", declared=None):
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugin = types.SimpleNamespace(**{f"noisesearch_{kind}": hookspecs.hookimpl(lambda: classes)})
    if declared is not None:
        plugin.NOISESEARCH_API = declared
    pm.register(plugin, name="third-party")
    return registry.build_index(pm)[kind]


def result(family):
    pipeline = family.load(None)
    settings = SearchSettings(RandomSearch, RandomSearch.Params(), 7 * 6, 4, "heun", 1.5, 4, 8, 8, 0)
    with torch.no_grad():
        (found,) = Executor(pipeline, [ToyVerifier()], settings).run([Task(0, Condition(class_label=2), 0)])
    return found


def test_an_api_1_pipeline_is_adapted_with_one_warning_and_gives_the_api_3_results():
    entry = index_of([ApiOneToy])["api1-toy"]
    assert entry.api == 1 and entry.problem is None and len(entry.notes) == 1
    assert "denoise(x, sigma, cond, guidance) and configure(steps, guidance, height, width, sampler)" in entry.notes[0]
    assert "adapted until noisesearch 0.3.0" in entry.notes[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry.usable()
        entry.usable()
    assert [w.category for w in caught] == [compat.PluginDeprecation]
    adapted, twin = result(ClassFamily(entry.cls)), result(ApiThreeFamily())
    assert (adapted.candidate, adapted.scores) == (twin.candidate, twin.scores)
    assert torch.equal(adapted.image, twin.image)


def test_an_api_2_pipeline_class_is_read_as_a_family_until_0_4():
    class ApiTwoToy(ToyMixture):
        name = "api2-toy"
        num_classes = 4

    entry = index_of([ApiTwoToy])["api2-toy"]
    assert entry.api == 2 and entry.cls is ApiTwoToy and "register a Family subclass" in entry.notes[0]
    assert "0.4.0" in entry.notes[0]


def test_api_3_families_are_used_as_they_are():
    entry = index_of([ApiThreeFamily], declared=3)["api3-toy"]
    assert entry.api == 3 and entry.declared == 3 and not entry.notes and not entry.problem
    assert entry.cls is ApiThreeFamily


@pytest.mark.parametrize("make, kind, refused", [
    (lambda: type("Twisted", (ToyMixture,), {"name": "twisted", "denoise": lambda self, x, s, c, g, t: x}),
     "pipelines", "Twisted.denoise takes 5 arguments; the API 3 form is denoise(x, sigma, cond)"),
    (lambda: type("NoShape", (Pipeline,), {"name": "no-shape"}), "pipelines",
     "NoShape.latent_shape is missing: a pipeline implements latent_shape(height, width)"),
    (lambda: type("Silent", (ToyVerifier,), {"name": "silent", "score": lambda self, images: images}), "verifiers",
     "Silent.score takes 1 arguments; the protocol calls score(images, conditions)"),
    (lambda: type("Asks", (RandomSearch,), {"name": "asks", "tell": lambda self: None}), "algorithms",
     "Asks.tell takes 0 arguments; the protocol calls it with 1"),
])
def test_what_no_version_fits_is_refused_in_one_line_when_a_run_names_it(make, kind, refused):
    cls = make()
    entry = index_of([cls], kind)[cls.name]
    assert entry.problem.startswith("plugin 'third-party' ((registered in-process))") and refused in entry.problem
    assert "docs/plugins.md#api-versions" in entry.problem and "\n" not in entry.problem
    with pytest.raises(registry.PluginRefused, match="third-party"):
        entry.usable()


def test_a_plugin_declaring_a_newer_api_is_refused_with_the_fix():
    entry = index_of([ApiThreeFamily], declared=7)["api3-toy"]
    assert "declares NOISESEARCH_API = 7; this noisesearch speaks API 3" in entry.problem
    assert "upgrade noisesearch" in entry.problem
