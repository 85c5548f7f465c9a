"""The loaded models of a run: the pipeline (in ``model.dtype``) and its verifiers, as one ``nn.Module`` so that
Lightning's strategies and precision plugins move and convert them together."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..engine.compiled import compile_denoiser
from ..errors import UsageError
from .settings import RunSettings

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Models(nn.Module):
    """The pipeline and verifiers a run's settings name, loaded once (``prepare``)."""

    def __init__(self, settings: RunSettings):
        super().__init__()
        self.settings = settings
        self.pipeline: Optional[nn.Module] = None
        self.verifiers = nn.ModuleList()

    def load(self) -> None:
        """Load the pipeline (in ``dtype``) and the verifiers (once)."""
        if self.pipeline is not None:
            return
        self.pipeline = self.settings.family.load(self.settings.source)
        if self.settings.args.dtype is not None:
            self.pipeline.to(DTYPES[self.settings.args.dtype])
        if self.settings.args.preview_decoder is not None:
            self.pipeline.attach_preview_decoder(self.settings.args.preview_decoder)
        if self.settings.args.preview_frames is not None:
            self.pipeline.limit_preview_frames(self.settings.args.preview_frames)
        compile_denoiser(self.pipeline, self.settings.search.compile)
        for cls, argument in self.settings.verifier_classes:
            verifier = cls(argument)
            verifier.attach(self.settings.family)
            self.verifiers.append(verifier)
        if self.settings.guard_class is not None:
            cls, argument = self.settings.guard_class
            guard = cls(argument)
            guard.attach(self.settings.family)
            guard.guards = True  # held out: the scorer keeps it apart from the verifiers that drive
            self.verifiers.append(guard)
        self.eval()

    def prepare(self, device: torch.device) -> None:
        """Check the dtype against ``device``, load, and hand the pipeline's parts to offload hooks if asked."""
        check_dtype(self.settings.args.dtype, device)
        self.load()
        if self.settings.args.offload and not getattr(self.pipeline, "offloaded", False):
            self.pipeline.offload(device)

    def place_verifiers(self) -> None:
        """Move the verifiers to ``model.verifier_device`` when one is set."""
        if self.settings.args.verifier_device is not None:
            self.verifiers.to(self.settings.args.verifier_device)

    @property
    def device(self) -> torch.device:
        return next(self.pipeline.parameters(), torch.empty(0)).device if self.pipeline is not None else \
            torch.device("cpu")


def check_dtype(dtype: Optional[str], device: torch.device) -> None:
    """Refuse a dtype the device cannot run (fp16 on a CPU, bf16 on a GPU without it)."""
    if dtype == "fp16" and device.type == "cpu":
        raise UsageError("model.dtype fp16 needs a GPU; on a CPU use bf16 or fp32")
    if dtype == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError(f"model.dtype bf16: {torch.cuda.get_device_name(device)} does not support it; use fp16")
