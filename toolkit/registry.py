"""The plugin manager: finds entry points of the group ``noisesearch``, checks every class they register against the
protocol of its kind (``compat``: used as it is, adapted from an older plugin API, or refused) and indexes them by
name. A refused class is listed with its reason and refused when a run names it; the others run unaffected."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Optional

import pluggy

from . import compat, hookspecs
from .errors import UsageError

KINDS = ("algorithms", "verifiers", "pipelines")


@dataclass
class Entry:
    """One registered plugin class with where it came from, the plugin API it targets, and how it was checked."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str
    api: int = compat.API_VERSION
    declared: Optional[int] = None  # the version the plugin declares (``NOISESEARCH_API``), None when undeclared
    problem: Optional[str] = None  # why the class is refused
    notes: tuple[str, ...] = ()  # deprecation warnings, given once when the class is used
    warned: bool = field(default=False, compare=False)

    @property
    def description(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def usable(self) -> type:
        """The class to run: refused ones raise the one-line reason; adapted ones warn once."""
        if self.problem:
            raise PluginRefused(self.problem)
        if self.notes and not self.warned:
            self.warned = True
            for note in self.notes:
                warnings.warn(note, compat.PluginDeprecation, stacklevel=3)
        return self.cls


def plugin_status(entries: list[Entry]) -> str:
    """The plugin API a plugin targets, as ``list`` shows it: the version it declares (or its oldest class's forms,
    undeclared), and what of it is adapted or refused."""
    declared = entries[0].declared
    version = declared if declared is not None else min(entry.api for entry in entries)
    text = f"API {version}" + ("" if declared is not None else " (undeclared: read from its signatures)")
    refused = [entry.name for entry in entries if entry.problem]
    adapted = [entry.name for entry in entries if entry.notes and not entry.problem]
    if adapted:
        until = min(compat.ADAPTED_UNTIL[entry.api] for entry in entries if entry.notes and not entry.problem)
        text += f", {', '.join(adapted)} adapted until noisesearch {until}"
    if refused:
        text += f", {', '.join(refused)} refused"
    return text


class DuplicateNameError(UsageError):
    """Two plugins register the same name for one kind."""


class PluginRefused(UsageError):
    """A plugin class that does not fit its protocol (exit code 2, before any model loads)."""


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    return pm


def _plugin_origin(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    for plug, dist in pm.list_plugin_distinfo():
        if plug is plugin:
            return pm.get_name(plugin) or "?", f"{dist.project_name} {dist.version}"
    return pm.get_name(plugin) or "?", "(registered in-process)"


def build_index(pm: pluggy.PluginManager) -> dict[str, dict[str, Entry]]:
    """Index every plugin class by kind and name, each checked against its protocol; a name registered twice
    raises, naming both plugins."""
    index: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
    for kind in KINDS:
        hook = getattr(pm.hook, f"noisesearch_{kind}")
        for impl in hook.get_hookimpls():
            plugin_name, dist = _plugin_origin(pm, impl.plugin)
            declared = compat.declared_version(impl.plugin)
            for cls in impl.function() or []:
                checked = compat.check(kind, cls, compat.Origin(plugin_name, dist, declared))
                name = getattr(cls, "name", None) if isinstance(getattr(cls, "name", None), str) else \
                    getattr(cls, "__name__", repr(cls))
                entry = Entry(kind, name, checked.cls, plugin_name, dist, checked.api, declared, checked.problem,
                              checked.notes)
                if name in index[kind]:
                    other = index[kind][name]
                    raise DuplicateNameError(
                        f"{kind[:-1]} name {name!r} is registered twice: by plugin {other.plugin!r} "
                        f"({other.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}); "
                        "uninstall one or rename it"
                    )
                index[kind][name] = entry
    return index


@functools.lru_cache(maxsize=1)
def index() -> dict[str, dict[str, Entry]]:
    """The process-wide index of installed plugins (entry points are read once)."""
    return build_index(_manager())


def lookup(kind: str, name: str) -> Entry:
    """The entry registered as ``name``, checked (a refused class raises its reason; an adapted one warns once);
    an unknown name raises a UsageError listing the known ones."""
    known = index()[kind]
    if name not in known:
        import difflib

        close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown {kind[:-1]} {name!r}{hint or ';'} known {kind}: {', '.join(sorted(known)) or '(none)'}")
    entry = known[name]
    entry.usable()
    return entry


def usable(kind: str) -> Iterator[Entry]:
    """The entries of a kind that are not refused (finding a family for a folder or a spec skips refused ones)."""
    for entry in index()[kind].values():
        if not entry.problem:
            yield entry
