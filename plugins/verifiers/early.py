"""Verifier ``early:DIR``: an early verifier made by ``noisesearch distill`` (TTSnap, arXiv 2511.22242): candidates
stopped above level 0 are scored from their noisy latent, undecoded; finished ones by the verifier it was distilled
from (its teacher), so a search prunes early and still chooses by the real score."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from noisesearch.plugin import Condition, Latents, UsageError, Verifier, condition_vector, load_student, registered


class EarlyVerifier(Verifier):
    """``early:DIR``: the distilled network on stopped candidates, its teacher on finished ones (higher is better:
    a teacher that prefers lower scores is negated)."""

    name = "early"
    reads_latents = True

    def __init__(self, spec: Optional[str] = None):
        super().__init__(spec)
        if not spec:
            raise UsageError("verifier 'early' needs its folder: early:DIR (made by `noisesearch distill`)")
        self.network, self.card = load_student(spec)
        self.network.requires_grad_(False)
        name, _, argument = self.card["teacher"].partition(":")
        teachers = registered("verifiers")
        if name not in teachers:
            raise UsageError(f"early:{spec} was distilled from verifier {name!r}, which is not installed here")
        self.teacher = teachers[name](argument or None)
        self.sign = 1.0 if self.card.get("higher_is_better", True) else -1.0

    def attach(self, pipeline) -> None:
        expected = self.card["pipeline"]
        if pipeline.name != expected:
            raise UsageError(f"early:{self.spec} reads latents of pipeline {expected!r}, not {pipeline.name!r}; "
                             "distill one for this pipeline (`noisesearch distill --pipeline ...`)")
        self.teacher.attach(pipeline)

    def check_run(self, run, sigmas: torch.Tensor) -> None:
        """Refuse a search at other steps, sampler, guidance or noise levels than the card's: the network never saw
        its latents."""
        trained = self.card.get("run", {})
        asked = {"steps": run.steps, "sampler": run.sampler, "guidance": run.guidance}
        differ = [name for name, value in asked.items() if name in trained and trained[name] != value]
        levels = [float(s) for s in sigmas if float(s) > 0]
        known = self.card.get("sigmas")
        if not differ and known is not None and (len(known) != len(levels) or any(
                abs(a - b) > 1e-4 * max(abs(a), abs(b)) + 1e-6 for a, b in zip(known, levels))):
            differ = ["noise levels"]
        if differ:
            card = ", ".join(f"{name} {trained[name]!r}" for name in asked if name in trained)
            raise UsageError(f"early:{self.spec} was distilled at {card}; this search differs in "
                             f"{', '.join(differ)}, levels its network never saw: search at the card's settings or "
                             "distill again with these")

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        """Finished samples: the teacher's score."""
        return self.sign * self.teacher.score(images, conditions)

    def score_latents(self, latents: Latents, conditions: Sequence[Condition]) -> torch.Tensor:
        """Stopped candidates: the predicted standardised final score, from the latent and its x0-prediction."""
        device = next(self.network.parameters()).device
        cond = condition_vector(latents.cond).to(device)
        sigma = torch.full((len(latents.x),), float(latents.sigma), device=device)
        return self.network(latents.x.to(device), latents.x0.to(device), sigma, cond)
