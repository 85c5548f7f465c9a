"""Condition parsing, file-name sanitising and per-candidate noise."""

import pytest
import torch

from noisesearch.algorithm import SearchContext
from noisesearch.conditions import Condition, parse_classes
from noisesearch.errors import UsageError
from noisesearch.noise import NoiseSpec, band_filter, derive_seed, gaussian


@pytest.mark.parametrize("spec,labels", [("3", [3]), ("0,4,7", [0, 4, 7]), ("0-9", list(range(10))),
                                         ("0-2, 7", [0, 1, 2, 7])])
def test_parse_classes(spec, labels):
    assert parse_classes(spec) == labels


@pytest.mark.parametrize("spec", ["", "a", "3-", "1,,2", "-1", "5-2", "1.5"])
def test_parse_classes_rejects(spec):
    with pytest.raises(UsageError):
        parse_classes(spec)


def test_prompt_slug_is_safe_and_unique():
    evil = Condition(prompt="../../etc/passwd; rm -rf / \x00 <b>")
    assert all(ch.isalnum() or ch == "-" for ch in evil.slug)
    assert Condition(prompt="a cat").slug != Condition(prompt="a cat!").slug


def test_candidate_noise_depends_on_identity_only():
    context = SearchContext(seed=5, condition_key="class:3", repeat=0, budget_nfe=100, sample_nfe=10)
    same = SearchContext(seed=5, condition_key="class:3", repeat=0, budget_nfe=999, sample_nfe=3)
    shape = (1, 4, 4)
    assert torch.equal(context.fresh_noise(7).build(shape), same.fresh_noise(7).build(shape))
    others = [SearchContext(6, "class:3", 0, 100, 10), SearchContext(5, "class:4", 0, 100, 10),
              SearchContext(5, "class:3", 1, 100, 10)]
    for other in others:
        assert not torch.equal(context.fresh_noise(7).build(shape), other.fresh_noise(7).build(shape))
    assert not torch.equal(context.fresh_noise(7).build(shape), context.fresh_noise(8).build(shape))


def test_noise_spec_round_trips_and_mixes():
    a, b = NoiseSpec.fresh(derive_seed(1)), NoiseSpec.fresh(derive_seed(2))
    spec = a.combine(b, 0.6, 0.8)
    assert NoiseSpec.from_dict(spec.as_dict()) == spec
    assert torch.allclose(spec.build((4, 4)), 0.6 * a.build((4, 4)) + 0.8 * b.build((4, 4)))
    assert spec.variance((4, 4)) == pytest.approx(1.0)
    explicit = NoiseSpec.of_tensor(torch.randn(2, 3))
    assert NoiseSpec.from_dict(explicit.as_dict()) == explicit


def test_bands_split_a_noise_and_normalise():
    shape = (1, 16, 16)
    seed = derive_seed(3)
    low = NoiseSpec((seed,), (1.0,), ("low",)).build(shape)
    high = NoiseSpec((seed,), (1.0,), ("high",)).build(shape)
    assert torch.allclose(low + high, NoiseSpec.fresh(seed).build(shape), atol=1e-5)
    mean_of_four = NoiseSpec((1, 2, 3, 4), (0.25,) * 4, ("all",) * 4)
    assert mean_of_four.variance(shape) == pytest.approx(0.25)
    assert mean_of_four.normalized(shape).variance(shape) == pytest.approx(1.0)
    draws = torch.stack([NoiseSpec((derive_seed(i),), (1.0,), ("low",)).build(shape) for i in range(400)])
    predicted = NoiseSpec((1,), (1.0,), ("low",)).variance(shape)
    assert draws.var().item() == pytest.approx(predicted, rel=0.1)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_wavelet_bands_are_the_haar_approximation_pywavelets_reconstructs(levels):
    """The low band at ``levels`` is the periodic Haar approximation (PyWavelets on numpy, as a reference), the
    high band the rest, orthogonal to it, with 4^-levels of a white noise's variance."""
    import numpy as np
    import pywt

    noise = gaussian(derive_seed(5), (3, 32, 32))
    low, high = band_filter(noise, "low", 0.25, levels), band_filter(noise, "high", 0.25, levels)
    coefficients = pywt.wavedec2(noise.numpy().astype(np.float64), "haar", mode="periodization", level=levels,
                                 axes=(-2, -1))
    reference = pywt.waverec2([coefficients[0]] + [tuple(np.zeros_like(d) for d in detail)
                                                   for detail in coefficients[1:]], "haar", mode="periodization",
                              axes=(-2, -1))
    assert np.allclose(low.numpy(), reference, atol=1e-5)
    assert torch.allclose(low + high, noise, atol=1e-5) and abs(float((low * high).sum())) < 1e-3
    spec = NoiseSpec((7,), (1.0,), ("low",), levels=levels)
    assert spec.variance((3, 32, 32)) == pytest.approx(4.0 ** -levels)
    draws = torch.stack([NoiseSpec((derive_seed(i),), (1.0,), ("low",), levels=levels).build((1, 32, 32))
                         for i in range(200)])
    assert draws.var().item() == pytest.approx(4.0 ** -levels, rel=0.15)
    assert NoiseSpec.from_dict(spec.as_dict()) == spec and spec != NoiseSpec((7,), (1.0,), ("low",))
    assert "levels" not in NoiseSpec.fresh(7).as_dict()  # recipes journaled before wavelets read back unchanged
