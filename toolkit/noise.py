"""Noise per candidate: Gaussians drawn from generators seeded by the run seed and the candidate's identity."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Optional

import torch

BANDS = ("all", "low", "high")


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any identity parts (run seed, condition key, repeat, candidate id)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def gaussian(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A float32 standard normal tensor on the CPU from its own generator (device- and batch-independent)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def wavelet_low(noise: torch.Tensor, levels: int) -> torch.Tensor:
    """The projection of a noise (over its last two axes) onto the span of its Haar wavelet approximation at
    ``levels`` levels (ptwt's periodic transform: orthonormal, so the low and high parts are orthogonal)."""
    import ptwt
    import pywt

    wavelet = pywt.Wavelet("haar")
    coefficients = ptwt.wavedec2(noise, wavelet, level=levels, mode="periodic")
    zeroed = [coefficients[0]] + [type(detail)(*(torch.zeros_like(part) for part in detail))
                                  for detail in coefficients[1:]]
    return ptwt.waverec2(zeroed, wavelet).reshape(noise.shape)


def band_filter(noise: torch.Tensor, band: str, cutoff: float, levels: int = 0) -> torch.Tensor:
    """The low- or high-frequency part of a noise over its last two axes; the two parts are orthogonal and sum to
    the noise.

    ``levels`` 0: split by the FFT, ``cutoff`` the fraction of the Nyquist frequency that counts as low. ``levels``
    L >= 1: the low part is the Haar wavelet approximation at L levels (Spectral Evolution Search's wavelet space).
    """
    if band == "all":
        return noise
    if levels:
        low = wavelet_low(noise, levels)
        return low if band == "low" else noise - low
    height, width = noise.shape[-2:]
    fy = torch.fft.fftfreq(height).abs()[:, None] * 2
    fx = torch.fft.fftfreq(width).abs()[None, :] * 2
    low = ((fy <= cutoff) & (fx <= cutoff)).to(noise.dtype)
    spectrum = torch.fft.fft2(noise)
    mask = low if band == "low" else 1 - low
    return torch.fft.ifft2(spectrum * mask).real


def low_fraction(shape: tuple[int, ...], cutoff: float, levels: int = 0) -> float:
    """Fraction of a white noise's variance that lies in the low band (``levels`` L: 4^-L, the Haar
    approximation's share of the dimensions of sides divisible by 2^L)."""
    if levels:
        return 4.0 ** -levels
    height, width = shape[-2:]
    fy = torch.fft.fftfreq(height).abs() * 2
    fx = torch.fft.fftfreq(width).abs() * 2
    return float((fy <= cutoff).float().mean() * (fx <= cutoff).float().mean())


@dataclass(frozen=True)
class NoiseSpec:
    """A replayable recipe for a noise: a weighted sum of seeded Gaussians, each optionally band-limited.

    One seed is a fresh draw; several express neighbours (zero-order search), means and samples (evolution),
    so a journal rebuilds any noise from numbers alone. ``explicit`` holds a tensor that no recipe produces
    (gradient ascent), serialised in full.
    """

    seeds: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    bands: tuple[str, ...] = ()
    cutoff: float = 0.25
    explicit: Optional[torch.Tensor] = None
    levels: int = 0  # 0: bands split by the FFT at ``cutoff``; L: by the Haar wavelet approximation at L levels

    @classmethod
    def fresh(cls, seed: int) -> "NoiseSpec":
        return cls((seed,), (1.0,), ("all",))

    @classmethod
    def of_tensor(cls, tensor: torch.Tensor) -> "NoiseSpec":
        return cls(explicit=tensor.detach().to("cpu", torch.float32).contiguous())

    @property
    def fresh_seed(self) -> Optional[int]:
        """The seed when this noise is one plain draw (``gaussian(seed)``, what a pipeline's generator draws)."""
        if self.explicit is None and len(self.seeds) == 1 and self.weights == (1.0,) and self.bands == ("all",):
            return self.seeds[0]
        return None

    def build(self, shape: tuple[int, ...]) -> torch.Tensor:
        if self.explicit is not None:
            return self.explicit.clone().reshape(shape)
        total = torch.zeros(shape, dtype=torch.float32)
        for seed, weight, band in zip(self.seeds, self.weights, self.bands, strict=True):
            total += weight * band_filter(gaussian(seed, shape), band, self.cutoff, self.levels)
        return total

    def combine(self, other: "NoiseSpec", weight_self: float, weight_other: float) -> "NoiseSpec":
        """``weight_self * self + weight_other * other`` as a recipe (terms of one seed and band merge)."""
        terms: dict[tuple[int, str], float] = {}
        for spec, scale in ((self, weight_self), (other, weight_other)):
            for seed, weight, band in zip(spec.seeds, spec.weights, spec.bands):
                terms[(seed, band)] = terms.get((seed, band), 0.0) + scale * weight
        kept = [(seed, band, weight) for (seed, band), weight in terms.items() if weight != 0.0]
        return NoiseSpec(tuple(s for s, _, _ in kept), tuple(w for _, _, w in kept), tuple(b for _, b, _ in kept),
                         self.cutoff, levels=self.levels)

    def variance(self, shape: tuple[int, ...]) -> float:
        """Expected per-element variance of the recipe (its seeds are independent draws)."""
        low = low_fraction(shape, self.cutoff, self.levels)
        share = {"all": 1.0, "low": low, "high": 1.0 - low}
        by_seed: dict[int, dict[str, float]] = {}
        for seed, weight, band in zip(self.seeds, self.weights, self.bands):
            by_seed.setdefault(seed, {})[band] = weight
        total = 0.0
        for parts in by_seed.values():
            w_all = parts.get("all", 0.0)
            total += (w_all + parts.get("low", 0.0)) ** 2 * share["low"]
            total += (w_all + parts.get("high", 0.0)) ** 2 * share["high"]
        return total

    def normalized(self, shape: tuple[int, ...]) -> "NoiseSpec":
        """The recipe scaled to unit expected variance, so it stays a standard Gaussian sample."""
        scale = self.variance(shape) ** -0.5
        return NoiseSpec(self.seeds, tuple(w * scale for w in self.weights), self.bands, self.cutoff,
                         levels=self.levels)

    def as_dict(self) -> dict:
        if self.explicit is not None:
            data = base64.b64encode(self.explicit.numpy().tobytes()).decode()
            return {"explicit": data, "shape": list(self.explicit.shape)}
        recipe = {"seeds": [str(s) for s in self.seeds], "weights": list(self.weights), "bands": list(self.bands),
                  "cutoff": self.cutoff}
        return {**recipe, "levels": self.levels} if self.levels else recipe

    @classmethod
    def from_dict(cls, data: dict) -> "NoiseSpec":
        if "explicit" in data:
            import numpy as np

            array = np.frombuffer(base64.b64decode(data["explicit"]), dtype=np.float32).reshape(data["shape"])
            return cls.of_tensor(torch.from_numpy(array.copy()))
        return cls(tuple(int(s) for s in data["seeds"]), tuple(float(w) for w in data["weights"]),
                   tuple(data["bands"]), float(data["cutoff"]), levels=int(data.get("levels", 0)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoiseSpec):
            return NotImplemented
        if (self.explicit is None) != (other.explicit is None):
            return False
        if self.explicit is not None:
            return torch.equal(self.explicit, other.explicit)
        return (self.seeds, self.weights, self.bands, self.cutoff, self.levels) == (
            other.seeds, other.weights, other.bands, other.cutoff, other.levels)

    __hash__ = None  # type: ignore[assignment]
