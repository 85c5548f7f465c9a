"""Verifier ``motion-clip``: CLIPScore of a whole clip under the embedded motion-clip, an open_clip model that sees the
clip's frames woven into one image."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from noisesearch.plugin import Condition, UsageError
from noisesearch_plugins.verifiers.clip_score import CLIPScoreVerifier

from .movers import FRAMES
from .networks import weave

CLIP_FOLDER = Path(__file__).parent / "weights" / "clip"


class MotionCLIPVerifier(CLIPScoreVerifier):
    """100 x cosine of a clip and its prompt under motion-clip (frames woven pixel by pixel); ``motion-clip``.

    It watches the whole clip, so it can judge direction and speed; like web CLIPs it learned from partial captions
    and can be fooled. Given single frames (another world's images) it has nothing to say: use ``clip`` there.
    """

    name = "motion-clip"
    default_model = f"local-dir:{CLIP_FOLDER}"
    watches_clips = True

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.image_features(woven(images))

    def score(self, images: torch.Tensor, conditions: Sequence[Condition]) -> torch.Tensor:
        texts = self.clip.text_features([condition.prompt for condition in conditions])
        return self.scale * (self.clip.image_features(woven(images)) * texts).sum(dim=-1)


def woven(clips: torch.Tensor) -> torch.Tensor:
    """Clips (B, 6, 3, H, W) as the woven images motion-clip sees; a clean error for anything else."""
    if clips.ndim != 5 or clips.shape[1] != FRAMES:
        raise UsageError(f"motion-clip judges clips of {FRAMES} frames (B, {FRAMES}, C, H, W), not shape "
                         f"{tuple(clips.shape)}; use it with pipeline motion, or clip on images")
    return weave(clips)
