"""Loading weights strictly: a missing, unexpected or misshapen tensor is one line naming it, never a silent
partial load (safetensors only)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Union

import torch
from torch import nn

from noisesearch.plugin import UsageError


def check_state(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Refuse ``state`` unless it holds exactly ``module``'s tensors, each of its shape."""
    expected = {key: value.shape for key, value in module.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = sorted(f"{key} {tuple(state[key].shape)} != {tuple(expected[key])}"
                       for key in set(state) & set(expected) if tuple(state[key].shape) != tuple(expected[key]))
    problems = [f"{label} {len(keys)}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen))
                if keys]
    if problems:
        raise UsageError(f"{what} does not match its model ({'; '.join(problems)}); convert the published "
                         "checkpoint again (`noisesearch convert --help`)")


def load_strict(module: nn.Module, source: Union[str, Path, Mapping[str, torch.Tensor]], what: str) -> None:
    """Load a safetensors file (or a state dict) into ``module``, all tensors or none."""
    from safetensors.torch import load_file

    state = load_file(str(source)) if isinstance(source, (str, Path)) else source
    check_state(module, state, what)
    module.load_state_dict(state, strict=True)
