"""Conformance suite for pipeline plugins, shipped for plugin authors (the hardest plugin contract).

Subclass it in your own tests; pytest reports each property on its own::

    from noisesearch.testing.pipelines import PipelineSuite

    class TestMyPipeline(PipelineSuite):
        family = MyFamily              # a Family subclass or object (or an API 2 Pipeline class)
        source = None                  # what ``load`` takes (a folder, a hub id)
        conditions = [Condition(prompt="a red cube"), Condition(prompt="two cats")]

``check_pipeline(family, conditions)`` runs the same checks in one call. A pipeline that runs whole from initial
noises (``whole``) is checked through ``generate``; the others through ``denoise`` and ``decode``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

import pytest
import torch

from ..conditions import Condition
from ..pipeline import Pipeline, RunSpec, family_of

STEPS = 2  # enough to exercise a schedule, few enough to keep the checks fast


def load(family: Any, source: Optional[str] = None, run: Optional[RunSpec] = None) -> tuple[Any, Pipeline]:
    """The family object and its loaded pipeline, configured for ``run`` (default: its defaults at 2 steps)."""
    family = family_of(family)
    pipeline = family.load(source)
    pipeline.configure(run or RunSpec(STEPS, family.default_guidance, family.default_height, family.default_width,
                                      family.default_sampler))
    return family, pipeline


def noises(pipeline: Pipeline, count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (count, *pipeline.latent_shape(pipeline.run.height, pipeline.run.width))
    device, dtype = pipeline.placement()
    return torch.randn(shape, generator=generator).to(device, dtype)


def check_sigmas(pipeline: Pipeline) -> None:
    """A full solve's levels fall from the first level to a final 0."""
    sigmas = pipeline.sigmas(pipeline.run.steps).float()
    assert sigmas.dim() == 1 and len(sigmas) >= 2, "sigmas(steps) must be a 1-d schedule with a final 0"
    assert float(sigmas[-1]) == 0.0, "a full solve ends at level 0"
    assert bool((sigmas[:-1] > sigmas[1:]).all()), "levels fall strictly"


def check_select(pipeline: Pipeline, conditions: Sequence[Condition]) -> None:
    """``select`` picks rows of an encoding: selecting [i] gives what encoding condition i alone gives."""
    encoded = pipeline.encode(list(conditions))
    for i, condition in enumerate(conditions):
        alone = pipeline.select(pipeline.encode([condition]), torch.tensor([0]))
        picked = pipeline.select(encoded, torch.tensor([i]))
        assert same(alone, picked), f"select of row {i} differs from encoding its condition alone"


def check_batch_invariant(pipeline: Pipeline, conditions: Sequence[Condition]) -> None:
    """A batch equals its rows one by one (``denoise``; ``generate`` for whole-pipeline families): results never
    depend on the batch size."""
    if getattr(pipeline.family, "whole", False):
        from ..noise import NoiseSpec

        x, specs = noises(pipeline, len(conditions)), [NoiseSpec.fresh(i) for i in range(len(conditions))]
        with torch.no_grad():
            batch = pipeline.generate(x, list(conditions), specs)
            rows = [pipeline.generate(x[i : i + 1], [conditions[i]], specs[i : i + 1]) for i in range(len(conditions))]
        torch.testing.assert_close(batch, torch.cat(rows), atol=2e-3, rtol=0)
        return
    encoded = pipeline.encode(list(conditions))
    index = torch.arange(len(conditions))
    x = noises(pipeline, len(conditions))
    sigmas = pipeline.sigmas(pipeline.run.steps)
    level = sigmas[len(sigmas) // 2].to(x.device).repeat(len(conditions))
    with torch.no_grad():
        batch = pipeline.denoise(x * level.view(-1, *[1] * (x.dim() - 1)).to(x.dtype), level,
                                 pipeline.select(encoded, index))
        rows = [pipeline.denoise(x[i : i + 1] * level[i].to(x.dtype), level[i : i + 1],
                                 pipeline.select(encoded, index[i : i + 1])) for i in range(len(conditions))]
    assert batch.shape == x.shape, "denoise returns x0 in the latent's shape"
    torch.testing.assert_close(batch.float(), torch.cat(rows).float(), atol=1e-4, rtol=1e-4)


def check_images(pipeline: Pipeline, conditions: Sequence[Condition]) -> None:
    """Images (``decode`` of a latent of ``latent_shape``, or ``generate``) lie in [0, 1] at the configured size."""
    x = noises(pipeline, len(conditions))
    with torch.no_grad():
        if getattr(pipeline.family, "whole", False):
            from ..noise import NoiseSpec

            images = pipeline.generate(x, list(conditions), [NoiseSpec.fresh(i) for i in range(len(conditions))])
        else:
            images = pipeline.decode(x)
    assert images.dim() == 4 and images.shape[0] == len(conditions), "images are (B, C, H, W)"
    assert tuple(images.shape[-2:]) == (pipeline.run.height, pipeline.run.width), \
        "latent_shape(height, width) must decode to images of the configured size"
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0, "images lie in [0, 1]"


def check_pipeline(family: Any, conditions: Sequence[Condition], source: Optional[str] = None,
                   run: Optional[RunSpec] = None) -> None:
    """Every check of the suite, in one call."""
    _, pipeline = load(family, source, run)
    check_sigmas(pipeline)
    check_select(pipeline, conditions)
    check_batch_invariant(pipeline, conditions)
    check_images(pipeline, conditions)


def same(a: Any, b: Any) -> bool:
    """Equal encodings: tensors (close), lists, dicts of them, or anything else by ``==``."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=1e-5)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class PipelineSuite:
    """Subclass with ``family`` (a Pipeline class or a Family), ``conditions`` and optionally ``source``/``run``."""

    family: ClassVar[Any]
    conditions: ClassVar[Sequence[Condition]]
    source: ClassVar[Optional[str]] = None
    run: ClassVar[Optional[RunSpec]] = None

    @pytest.fixture
    def pipeline(self) -> Pipeline:
        return load(self.family, self.source, self.run)[1]

    def test_sigmas_fall_to_zero(self, pipeline):
        check_sigmas(pipeline)

    def test_select_is_per_row(self, pipeline):
        check_select(pipeline, self.conditions)

    def test_batch_invariant(self, pipeline):
        check_batch_invariant(pipeline, self.conditions)

    def test_images_are_in_range_at_the_configured_size(self, pipeline):
        check_images(pipeline, self.conditions)
