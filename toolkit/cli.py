"""The ``noisesearch`` command: ``predict`` and ``resume`` (LightningCLI), ``bench``, ``show``, ``report``,
``convert`` and ``list``.

Only ``predict`` and ``resume`` import Lightning and the model libraries: ``list`` and ``--help`` start fast.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

from . import __version__, registry
from .errors import ServiceError, Stopped, UsageError


def plugins_json() -> str:
    """Every registered plugin as JSON: kind -> [{name, description, plugin, distribution}] (``list --json``)."""
    return json.dumps({kind: [{"name": name, "description": entry.description, "plugin": entry.plugin,
                               "distribution": entry.distribution} for name, entry in sorted(entries.items())]
                       for kind, entries in registry.index().items()}, indent=2)


def show(args: list[str]) -> int:
    """``show DIR``: a finished run's results table and cost, from its summary.json."""
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: noisesearch show DIR (a run folder with summary.json)")
    from .run.report.table import format_cost, format_table
    from .store.folder import RunDir
    from .store.records import ResultRecord

    summary = RunDir(args[0]).read_summary()
    print(format_table([ResultRecord.from_json(entry) for entry in summary["results"]], summary))
    print(format_cost(summary))
    return 0


def report(args: list[str]) -> int:
    """``report DIR``: rebuild a run's report.html from its journal (finished, interrupted, resumed, multi-rank)."""
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: noisesearch report DIR (a run folder with journal/)")
    from .run.report.page import write_report

    print(f"wrote {write_report(args[0])}")
    return 0


def format_plugins() -> str:
    """Every registered algorithm, verifier and pipeline with its description and distribution."""
    lines = []
    for kind, entries in registry.index().items():
        lines.append(f"{kind}:")
        for name, entry in sorted(entries.items()):
            lines.append(f"  {name:<20} {entry.description}  [{entry.distribution}, plugin {entry.plugin}]")
    return "\n".join(lines)


USAGE = """usage: noisesearch {predict,resume,bench,show,report,list,convert} ...

  predict   run searches (LightningCLI): noisesearch predict --help
  resume    continue an interrupted run from its journal: noisesearch resume DIR [--trainer.KEY VALUE ...]
  bench     run a scaling study: noisesearch bench --config STUDY.yaml --out DIR
  show      a finished run's results table again: noisesearch show DIR
  report    rebuild a run's report.html (candidates, best-so-far, lineage) from its journal: noisesearch report DIR
  list      every registered algorithm, verifier and pipeline, with its distribution (--json for scripts)
  convert   a published .pt checkpoint to safetensors: noisesearch convert --help
"""


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``noisesearch`` command; user errors print one line and exit with code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
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
    if args[:1] == ["list"]:
        if args[1:] not in ([], ["--json"]):
            raise UsageError("usage: noisesearch list [--json]")
        print(plugins_json() if args[1:] == ["--json"] else format_plugins())
        return 0
    if args[:1] == ["show"]:
        return show(args[1:])
    if args[:1] == ["report"]:
        return report(args[1:])
    if args[:1] in (["--version"], ["-V"]):
        print(f"noisesearch {__version__}")
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] == "bench":
        from .bench.runner import main as bench

        return bench(args[1:])
    if args[0] == "convert":
        from .convert import main as convert

        return convert(args[1:])
    if args[0] not in ("predict", "resume"):
        raise UsageError(f"unknown command {args[0]!r}; commands: predict, resume, bench, show, report, list, convert")
    from .lightning.predict_cli import predict

    predict(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
