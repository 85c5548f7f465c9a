"""Resolving user specs (names, folders, ``name:arg`` verifier specs) to plugin classes, before anything loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from . import registry
from .errors import UsageError
from .pipeline import family_of
from .verifier import Verifier


def describe_spec(spec: Any) -> str:
    """How a run records its pipeline: the spec itself, or ``object:CLASS`` for a model handed over from Python."""
    return spec if isinstance(spec, str) else f"object:{type(spec).__name__}"


def resolve_pipeline(spec: Any) -> tuple[Any, Optional[str]]:
    """A registered pipeline name, a local folder, another spec (a hub id) a plugin claims, or a loaded model object
    a plugin takes: (family, source). The family is a ``Family`` object (a registered ``Pipeline`` class of plugin
    API 2 gets its ``ClassFamily``)."""
    known = registry.index()["pipelines"]
    if not isinstance(spec, str):
        for entry in registry.usable("pipelines"):
            if entry.cls.claims_object(spec):
                return family_of(entry.usable().for_object(spec)), None
        raise UsageError(f"no installed pipeline family takes a {type(spec).__name__} object; pass a registered "
                         f"name, a folder or a hub id ({', '.join(sorted(known))})")
    if spec in known:
        return family_of(registry.lookup("pipelines", spec).cls), None
    folder = Path(spec).expanduser()
    if folder.is_dir():
        for entry in registry.usable("pipelines"):
            if entry.cls.claims(folder):
                return family_of(entry.usable().for_source(str(folder))), str(folder)
        raise UsageError(
            f"folder {spec!r} is no pipeline any installed plugin recognises; "
            f"registered pipelines: {', '.join(sorted(known))}"
        )
    for entry in registry.usable("pipelines"):
        if entry.cls.claims_spec(spec):
            return family_of(entry.usable().for_source(spec)), spec
    raise UsageError(
        f"unknown pipeline {spec!r}: neither a registered name, a local folder nor a hub id; "
        f"registered pipelines: {', '.join(sorted(known))}"
    )


def split_verifier_spec(spec: str) -> tuple[str, Optional[str]]:
    """``"clip:ViT-L-14/openai"`` -> ("clip", "ViT-L-14/openai"); ``"digits-classifier"`` -> (name, None)."""
    name, _, argument = spec.partition(":")
    return name, (argument or None)


def resolve_verifiers(specs: list[str], condition_kind: str) -> list[tuple[type[Verifier], Optional[str]]]:
    """Verifier classes and their arguments, checked against the pipeline's kind of condition."""
    if not specs:
        raise UsageError("model.verifiers is empty; name at least one verifier (see `noisesearch list`)")
    resolved = []
    for spec in specs:
        name, argument = split_verifier_spec(spec)
        cls = registry.lookup("verifiers", name).cls
        cls.check_conditions(condition_kind)
        resolved.append((cls, argument))
    names = [cls.name for cls, _ in resolved]
    if len(set(names)) != len(names):
        raise UsageError(f"model.verifiers names a verifier twice: {names}")
    return resolved
