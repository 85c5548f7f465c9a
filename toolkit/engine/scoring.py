"""Scoring: each verifier on its own device and timed, previews for preview verifiers, and the ensemble.

The one place scores are made, with and without gradients (Ma et al. 2025, section 3: verifiers and ensembles).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable, Optional, Sequence

import torch

from ..clips import combine, frames_of, is_clip_batch, judged_frames
from ..conditions import Condition
from ..ensemble import aggregate, oriented
from ..errors import UsageError
from ..verifier import Latents, Verifier
from .compiled import padded

log = logging.getLogger("noisesearch")


class Scorer:
    """Runs the verifiers of a search and combines their scores (``rank``: mean rank; ``weighted``: z-scores)."""

    def __init__(self, verifiers: Sequence[Verifier], ensemble: str = "rank",
                 weights: Optional[Sequence[float]] = None, clip_frames: int = 8, clip_aggregate: str = "mean"):
        self.verifiers = [verifier for verifier in verifiers if not getattr(verifier, "guards", False)]
        self.guard = next((verifier for verifier in verifiers if getattr(verifier, "guards", False)), None)
        self.clip_frames, self.clip_aggregate = clip_frames, clip_aggregate
        self.ensemble = ensemble
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(self.verifiers)
        self.seconds = {verifier.name: 0.0 for verifier in [*self.verifiers, *([self.guard] if self.guard else [])]}

    @property
    def reads_latents_only(self) -> bool:
        """Whether every verifier scores stopped candidates undecoded (then they are never decoded)."""
        return all(type(verifier).reads_latents for verifier in self.verifiers)

    def values(self, images: Optional[torch.Tensor], conditions: list[Condition],
               previews: Optional[Callable[[], torch.Tensor]] = None,
               latents: Optional[Latents] = None, pad_to: Optional[int] = None) -> dict[str, torch.Tensor]:
        """Each verifier's scores of a batch (tensors on the images' device; differentiable where the verifier is).

        Each verifier runs on its own parameters' device (``model.verifier_device``); preview verifiers also get
        ``previews()``, decoded once for all of them; with ``latents`` (candidates stopped above level 0), verifiers
        that read latents score those instead of the images. With ``pad_to`` (``model.pad_chunks``) images, previews
        and conditions are padded to that many rows (the last repeated) and the scores of the real rows kept.
        """
        rows = len(conditions)
        if pad_to is not None and images is not None and rows < pad_to:
            images, conditions, previews = padded_batch(images, conditions, previews, pad_to)
        values: dict[str, torch.Tensor] = {}
        preview_images = None
        home = images.device if images is not None else latents.x.device
        for verifier in self.verifiers:
            started = time.perf_counter()
            parameter = next(verifier.parameters(), None)
            device = parameter.device if parameter is not None else home
            if latents is not None and type(verifier).reads_latents:
                moved = Latents(latents.x.to(device), latents.x0.to(device), latents.sigma, latents.cond)
                scored = verifier.score_latents(moved, conditions)
            else:
                if type(verifier).preview_sigma is not None and preview_images is None:
                    preview_images = images if previews is None else previews()
                scored = self._judged(verifier, images, conditions, preview_images, device)
            values[verifier.name] = scored.to(home)[:rows]
            self.seconds[verifier.name] += time.perf_counter() - started
        if self.guard is not None and latents is None and images is not None:  # finished samples only
            values[self.guard.name] = self._guard_scores(images, conditions, home)[:rows]
        return values

    def _guard_scores(self, images: torch.Tensor, conditions: list[Condition], home: torch.device) -> torch.Tensor:
        """``model.guard``'s scores of finished samples, without gradients (it never drives the search)."""
        started = time.perf_counter()
        parameter = next(self.guard.parameters(), None)
        with torch.no_grad():
            scored = self._judged(self.guard, images, conditions, None,
                                  parameter.device if parameter is not None else home)
        self.seconds[self.guard.name] += time.perf_counter() - started
        return scored.to(home)

    def _judged(self, verifier: Verifier, images: torch.Tensor, conditions: list[Condition],
                previews: Optional[torch.Tensor], device: torch.device) -> torch.Tensor:
        """One verifier's scores of images, or of clips: whole where it watches clips, else frame by frame and
        combined (``model.clip_frames``, ``model.clip_aggregate``)."""
        framed = is_clip_batch(images) and not verifier.watches_clips  # a verifier may decide once loaded
        if framed:
            indices = judged_frames(images.shape[1], self.clip_frames, self.clip_aggregate)
            images = frames_of(images, indices)
            previews = None if previews is None else frames_of(previews, indices)
            conditions = [condition for condition in conditions for _ in indices]
        if previews is None:
            scored = verifier.score(images.to(device), conditions)
        else:
            scored = verifier.score(images.to(device), conditions, previews=previews.to(device))
        return combine(scored, len(conditions) // len(indices), self.clip_aggregate) if framed else scored

    def score(self, images: Optional[torch.Tensor], conditions: list[Condition],
              previews: Optional[Callable[[], torch.Tensor]] = None,
              latents: Optional[Latents] = None, pad_to: Optional[int] = None) -> dict[str, list[float]]:
        """Each verifier's raw scores of a batch as floats."""
        values = self.values(images, conditions, previews, latents, pad_to)
        return {name: scored.float().cpu().tolist() for name, scored in values.items()}

    def objective(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The differentiable aggregate gradient search ascends: the weighted mean of oriented scores, summed over
        the batch (``rank`` weighs every verifier equally: ranks have no gradient)."""
        weights = self.weights if self.ensemble == "weighted" else (1.0,) * len(self.verifiers)
        total = 0.0
        for verifier, weight in zip(self.verifiers, weights):
            scored = values[verifier.name]
            oriented_sum = (scored if type(verifier).higher_is_better else -scored).sum()
            total = total + weight * oriented_sum
        return total / sum(weights)

    def oriented(self, scores: dict[str, float]) -> dict[str, float]:
        """Scores turned so that higher is better; a non-finite score is logged and ranks worst."""
        rows = {v.name: oriented(scores[v.name], v.higher_is_better) for v in self.verifiers}
        for name, value in scores.items():
            if not math.isfinite(value):
                log.warning("verifier %s gave a non-finite score (%s); the candidate counts as the worst", name, value)
        return rows

    def aggregate(self, rows: list[dict[str, float]]) -> list[float]:
        """Scores of candidates at one level from their oriented per-verifier scores (higher is better)."""
        return aggregate(rows, self.ensemble, {v.name: w for v, w in zip(self.verifiers, self.weights)})

    def require_differentiable(self, algorithm: str) -> None:
        """Refuse gradient search over verifiers without gradients."""
        not_differentiable = [v.name for v in self.verifiers if not v.differentiable]
        if not_differentiable:
            raise UsageError(
                f"algorithm {algorithm!r} ascends verifier gradients, but "
                f"{', '.join(not_differentiable)} is not differentiable; choose differentiable verifiers"
            )


def padded_batch(images: torch.Tensor, conditions: list[Condition], previews: Optional[Callable[[], torch.Tensor]],
                 pad_to: int) -> tuple[torch.Tensor, list[Condition], Optional[Callable[[], torch.Tensor]]]:
    """Images, conditions and previews padded to ``pad_to`` rows (the last repeated; ``model.pad_chunks``)."""
    extra = pad_to - len(conditions)
    padded_previews = None if previews is None else (lambda: padded(previews(), pad_to))
    return padded(images, pad_to), conditions + conditions[-1:] * extra, padded_previews


def preview_level(sigmas: torch.Tensor, verifiers: Sequence[Verifier]) -> Optional[float]:
    """The schedule's noise level nearest (in log sigma) to the one preview verifiers ask for, or None."""
    wanted = {type(v).preview_sigma for v in verifiers if type(v).preview_sigma is not None}
    if not wanted:
        return None
    if len(wanted) > 1:
        raise UsageError(f"the verifiers ask for previews at different noise levels ({sorted(wanted)}); the search "
                         "hands every preview verifier the same one: use verifiers that agree")
    (sigma,) = wanted
    positive = [float(s) for s in sigmas if float(s) > 0]
    return min(positive, key=lambda s: abs(math.log(s) - math.log(sigma)))
