"""Verifier ``shapes-clip``: CLIPScore under the embedded shapes-clip, an open_clip model trained on shape scenes."""

from __future__ import annotations

from pathlib import Path

from noisesearch_plugins.verifiers.clip_score import CLIPScoreVerifier

CLIP_FOLDER = Path(__file__).parent / "weights" / "clip"


class ShapesCLIPVerifier(CLIPScoreVerifier):
    """100 x cosine of image and prompt under shapes-clip (Ma et al. 2025, 4.1, at testbed scale); ``shapes-clip``.

    A CLIP-like verifier that can be fooled: it learned from partial captions, like web CLIPs. ``shapes-clip:MODEL``
    loads another open_clip model; its image features also serve ``self-supervised:shapes-clip``.
    """

    name = "shapes-clip"
    default_model = f"local-dir:{CLIP_FOLDER}"
