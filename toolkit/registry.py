"""The plugin manager: finds entry points of the group ``noisesearch`` and indexes what they provide by name."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .errors import UsageError

KINDS = ("algorithms", "verifiers", "pipelines")


@dataclass(frozen=True)
class Entry:
    """One registered plugin class with where it came from."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str

    @property
    def description(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class DuplicateNameError(UsageError):
    """Two plugins register the same name for one kind."""


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
    """Index every plugin class by kind and name; a name registered twice raises, naming both plugins."""
    index: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
    for kind in KINDS:
        hook = getattr(pm.hook, f"noisesearch_{kind}")
        for impl in hook.get_hookimpls():
            plugin_name, dist = _plugin_origin(pm, impl.plugin)
            for cls in impl.function() or []:
                entry = Entry(kind, cls.name, cls, plugin_name, dist)
                if cls.name in index[kind]:
                    other = index[kind][cls.name]
                    raise DuplicateNameError(
                        f"{kind[:-1]} name {cls.name!r} is registered twice: by plugin {other.plugin!r} "
                        f"({other.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}); "
                        "uninstall one or rename it"
                    )
                index[kind][cls.name] = entry
    return index


@functools.lru_cache(maxsize=1)
def index() -> dict[str, dict[str, Entry]]:
    """The process-wide index of installed plugins (entry points are read once)."""
    return build_index(_manager())


def lookup(kind: str, name: str) -> Entry:
    """The entry registered as ``name``; an unknown name raises a UsageError listing the known ones."""
    known = index()[kind]
    if name not in known:
        import difflib

        close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown {kind[:-1]} {name!r}{hint or ';'} known {kind}: {', '.join(sorted(known)) or '(none)'}")
    return known[name]

