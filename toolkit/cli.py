"""The ``noisesearch`` command: one table of commands (``COMMANDS``) drives dispatch, usage and errors.

Only ``predict`` and ``resume`` import Lightning and the model libraries: ``list`` and ``--help`` start fast.
"""

from __future__ import annotations

import json
import sys
from typing import Callable, Optional

from . import __version__, registry
from .errors import ServiceError, Stopped, UsageError


def plugins_json() -> str:
    """Every registered plugin as JSON: kind -> [{name, description, plugin, distribution, api, declared, problem,
    notes}] (``list --json``), and this noisesearch's plugin API."""
    from .compat import API_VERSION

    listed = {kind: [{"name": name, "description": entry.description, "plugin": entry.plugin,
                      "distribution": entry.distribution, "api": entry.api, "declared": entry.declared,
                      "problem": entry.problem, "notes": list(entry.notes)} for name, entry in sorted(entries.items())]
              for kind, entries in registry.index().items()}
    return json.dumps({**listed, "api_version": API_VERSION}, indent=2)


def show(args: list[str]) -> int:
    """``show DIR``: a finished run's results table and cost, from its summary.json."""
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: noisesearch show DIR (a run folder with summary.json)")
    from .run.report.table import ending
    from .store.folder import RunDir

    lines, _ = ending(RunDir(args[0]).read_summary(), warn_unspent=False)
    print("\n".join(lines))
    return 0


def report(args: list[str]) -> int:
    """``report DIR``: rebuild a run's report.html from its journal (finished, interrupted, resumed, multi-rank)."""
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: noisesearch report DIR (a run folder with journal/)")
    from .run.report.page import write_report

    print(f"wrote {write_report(args[0])}")
    return 0


WIDTH = 100  # ``list``'s lines, at most


def format_plugins() -> str:
    """Every registered algorithm, verifier and pipeline with its description, then each plugin: its distribution,
    what it provides and the plugin API it targets (an adapted or refused plugin says so, and why)."""
    import re
    import textwrap

    from .compat import API_VERSION

    lines, plugins = [], {}
    for kind, entries in registry.index().items():
        lines.append(f"{kind}:")
        for name, entry in sorted(entries.items()):
            plugins.setdefault(entry.plugin, []).append(entry)
            text = re.sub(r"``([^`]+)``", r"\1", entry.description) + (" (refused: see below)" if entry.problem
                                                                          else "")
            lines += textwrap.wrap(text, WIDTH, initial_indent=f"  {name:<20} ", subsequent_indent=" " * 23,
                                   break_on_hyphens=False)
    lines.append(f"plugins (distribution, the plugin API it targets; this noisesearch speaks API {API_VERSION}):")
    for plugin, entries in sorted(plugins.items()):
        names = ", ".join(entry.name for entry in entries)
        lines += textwrap.wrap(f"{entries[0].distribution}, {registry.plugin_status(entries)}: {names}", WIDTH,
                               break_on_hyphens=False,
                               initial_indent=f"  {plugin:<20} ", subsequent_indent=" " * 23)
        for entry in entries:
            for reason in ([entry.problem] if entry.problem else []) + list(entry.notes):
                lines += textwrap.wrap(f"{entry.name}: {reason}", WIDTH, initial_indent="    ",
                                       subsequent_indent="      ")
    return "\n".join(lines)


def plugins(args: list[str]) -> int:
    """``list [--json]``: every registered plugin."""
    if args not in ([], ["--json"]):
        raise UsageError("usage: noisesearch list [--json]")
    print(plugins_json() if args == ["--json"] else format_plugins())
    return 0


def predict(args: list[str]) -> int:
    """``predict ...`` and ``resume DIR ...``: checked without Lightning first, then the LightningCLI (which imports
    Lightning and the model libraries)."""
    from .run.preflight import preflight

    if preflight(args):
        return 0  # a resumed run with nothing left to do
    from .lightning.predict_cli import predict as run_predict

    run_predict(args)
    return 0


def bench(args: list[str]) -> int:
    from .bench.runner import main as run_bench

    return run_bench(args)


def compare(args: list[str]) -> int:
    from .run.report.compare import main as run_compare

    return run_compare(args)


def distill(args: list[str]) -> int:
    from .distill.command import main as run_distill

    return run_distill(args)


def serve(args: list[str]) -> int:
    from .serve.command import main as run_serve

    return run_serve(args)


def convert(args: list[str]) -> int:
    from .convert import main as run_convert

    return run_convert(args)


# The one command table: dispatch, the usage text and the unknown-command error are all read from it.
COMMANDS: dict[str, tuple[str, Callable[[list[str]], int], bool]] = {  # name: (help, handler, takes its own name)
    "predict": ("run searches (LightningCLI): noisesearch predict --help", predict, True),
    "resume": ("continue an interrupted run from its journal: noisesearch resume DIR [--trainer.KEY VALUE ...]",
               predict, True),
    "bench": ("run a scaling study: noisesearch bench --config STUDY.yaml --out DIR; its tables: noisesearch bench "
              "tables DIR; a comparison pooled over studies: noisesearch bench pool", bench, False),
    "show": ("a finished run's results table again: noisesearch show DIR", show, False),
    "report": ("rebuild a run's report.html (candidates, best-so-far, lineage) from its journal: noisesearch report "
               "DIR", report, False),
    "compare": ("finished runs side by side: a table here and one HTML page of their chosen images: noisesearch "
                "compare DIR DIR [...] [--out PAGE.html]", compare, False),
    "list": ("every registered algorithm, verifier and pipeline, with its distribution (--json for scripts)", plugins,
             False),
    "serve": ("search as a service: OpenAI's images route and a jobs API on LitServe: noisesearch serve --help",
              serve, False),
    "distill": ("train an early verifier that scores noisy latents (early:DIR): noisesearch distill --help", distill,
                False),
    "convert": ("a published .pt checkpoint to safetensors: noisesearch convert --help", convert, False),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}   {text}" for name, (text, _, _) in COMMANDS.items()]
    return f"usage: noisesearch {{{','.join(COMMANDS)}}} ...\n\n" + "\n".join(lines) + "\n"


def plain_warnings() -> None:
    """A plugin's deprecation as one line, as the command's own warnings read (not Python's file:line form)."""
    import warnings

    from .compat import PluginDeprecation

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, PluginDeprecation):
            print(f"noisesearch: warning: {message}", file=sys.stderr, flush=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``noisesearch`` command; user errors print one line and exit with code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    plain_warnings()
    try:
        return run(args)
    except UsageError as error:
        print(f"noisesearch: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except ServiceError as error:
        print(f"noisesearch: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except Stopped as stop:
        print(f"\nnoisesearch: {stop}", file=sys.stderr)
        raise SystemExit(stop.exit_code) from None


def run(args: list[str]) -> int:
    """Run one command; a user error raises UsageError (``main`` turns it into exit code 2)."""
    if args[:1] in (["--version"], ["-V"]):
        print(f"noisesearch {__version__}")
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        raise UsageError(f"unknown command {args[0]!r}; commands: {', '.join(COMMANDS)}")
    _, handler, whole_argv = COMMANDS[args[0]]
    return handler(args if whole_argv else args[1:])


if __name__ == "__main__":
    sys.exit(main())
