"""Noise per candidate: a Gaussian drawn from a generator seeded by the run seed and the candidate's identity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any identity parts (run seed, condition key, repeat, candidate id)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def gaussian(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A float32 standard normal tensor on the CPU from its own generator (device- and batch-independent)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


@dataclass(frozen=True)
class NoiseSpec:
    """A replayable recipe for a unit-variance noise: a weighted sum of seeded Gaussians.

    One seed is a fresh draw; several express neighbours and mixtures (zero-order search, evolution) so a
    journal can rebuild any noise from numbers alone.
    """

    seeds: tuple[int, ...]
    weights: tuple[float, ...] = (1.0,)

    def build(self, shape: tuple[int, ...]) -> torch.Tensor:
        total = torch.zeros(shape, dtype=torch.float32)
        for seed, weight in zip(self.seeds, self.weights, strict=True):
            total += weight * gaussian(seed, shape)
        return total

    def as_dict(self) -> dict:
        return {"seeds": [str(s) for s in self.seeds], "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: dict) -> "NoiseSpec":
        return cls(tuple(int(s) for s in data["seeds"]), tuple(float(w) for w in data["weights"]))
