"""The command line of the commands that take a dataclass of settings and an output folder (``bench``, ``distill``):
jsonargparse, so a bad value is its one-line error and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser


def settings_and_out(prog: str, description: str, settings: type, out_help: str, argv: list[str]) -> tuple[dict, Path]:
    """``--config FILE``, ``--KEY VALUE`` for every field of ``settings`` and ``--out DIR``: the fields' values (as
    jsonargparse instantiated them) and the folder."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", action="config")
    parser.add_class_arguments(settings, None)
    parser.add_argument("--out", type=str, required=True, help=out_help)
    config = parser.parse_args(argv)
    values: dict[str, Any] = parser.instantiate_classes(config).as_dict()
    out = Path(values.pop("out"))
    values.pop("config", None)
    return values, out
