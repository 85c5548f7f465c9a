"""The ``noisesearch`` command: ``predict`` (LightningCLI) and ``list`` (every registered plugin)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from . import __version__, registry
from .data import ConditionsDataModule
from .errors import ServiceError, UsageError
from .journal import read_run
from .module import SearchModule
from .progress import SearchProgressBar
from .writer import RUN_MARKERS, ResultWriter

warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")

TRAINER_DEFAULTS = {
    "accelerator": "auto",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
    "inference_mode": False,  # gradient-based search needs autograd inside predict; no_grad is used otherwise
    "callbacks": [SearchProgressBar()],
}


class NoiseSearchCLI(LightningCLI):
    """LightningCLI with one subcommand, ``predict``, plus ``--out`` and ``--overwrite``."""

    def __init__(self, args: Optional[list[str]] = None):
        super().__init__(
            SearchModule,
            ConditionsDataModule,
            subclass_mode_model=False,
            subclass_mode_data=False,
            seed_everything_default=0,
            save_config_callback=None,
            trainer_defaults=TRAINER_DEFAULTS,
            auto_configure_optimizers=False,
            parser_kwargs={"prog": "noisesearch", "description": "noise search for diffusion models"},
            args=args,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"predict": {"model", "dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--out", type=str, default="outputs/run", help="output folder of the run")
        parser.add_argument("--overwrite", type=bool, default=False, help="replace a finished run in --out")
        parser.add_argument("--resume", type=bool, default=False, help="continue the run in --out from its journal "
                            "(`noisesearch resume DIR` sets this)")
        parser.link_arguments("model.shard", "trainer.use_distributed_sampler",
                              compute_fn=lambda shard: shard != "candidates")

    def before_predict(self) -> None:
        config = self.config["predict"]
        out = Path(config["out"])
        primary = is_primary_process()
        if config["resume"]:
            self._load_journal(out)
        elif not primary:
            pass  # processes that Lightning launched for ranks > 0 leave the folder to rank 0
        elif not config["overwrite"] and any((out / marker).exists() for marker in RUN_MARKERS):
            raise UsageError(f"--out {out} already holds a run; pick another --out, `noisesearch resume {out}`, "
                             "or pass --overwrite true")
        elif config["overwrite"]:
            clear_run(out)
        tasks = self.datamodule.resolve(self.model.pipeline_cls)
        self.model.check_tasks(tasks)
        self.model.prepare(self.trainer.strategy.root_device)
        self.model.check_schedule()
        self.model.seed = int(config["seed_everything"])
        if primary:
            self._check_fingerprint(out, config["resume"])
        out.mkdir(parents=True, exist_ok=True)
        if not config["resume"] and primary:
            self._dump_config()
            (out / "config.yaml").write_text(yaml.safe_dump(self.config_dump, sort_keys=False))
        self.trainer.callbacks.append(ResultWriter(str(out)))

    def _load_journal(self, out: Path) -> None:
        if not (out / "journal").is_dir():
            raise UsageError(f"{out} is no noisesearch run to resume: it has no journal/ (start one with "
                             "`noisesearch predict --out DIR`)")
        self.model.replay, self.model.finished = read_run(out / "journal")

    def _check_fingerprint(self, out: Path, resuming: bool) -> None:
        """Record the settings that fix results; on resume, refuse settings that changed since the start."""
        current = {**self.model.describe(), "noisesearch": __version__}
        path = out / "run.json"
        if not resuming or not path.exists():
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(current, indent=2) + "\n")
            return
        started = json.loads(path.read_text())
        # settings a run's older version did not record yet (model.mode, model.offload) take their defaults there
        changed = [f"{key} {started.get(key)!r} -> {current.get(key)!r}" for key in sorted(started)
                   if key != "noisesearch" and started.get(key) != current.get(key)]
        if changed:
            raise UsageError(f"cannot resume {out}: its settings changed since it started ({'; '.join(changed)}); "
                             "restore its config.yaml or start a new run")

    def predict(self, model: SearchModule, datamodule: ConditionsDataModule, **kwargs) -> None:
        """Run ``trainer.predict``; results go to the writer, so none are kept in memory."""
        kwargs["return_predictions"] = False
        self.trainer.predict(model, datamodule=datamodule, **kwargs)


def is_primary_process() -> bool:
    """Whether this is the process a user started (Lightning sets LOCAL_RANK/NODE_RANK for the ones it launches)."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def clear_run(out: Path) -> None:
    """Remove a previous run's files from ``out`` (nothing else in the folder is touched)."""
    import shutil

    for name in ("summary.json", "grid.png", "config.yaml", "run.json"):
        (out / name).unlink(missing_ok=True)
    for folder in ("images", "noises", "journal", "parts"):
        shutil.rmtree(out / folder, ignore_errors=True)


def format_plugins() -> str:
    """Every registered algorithm, verifier and pipeline with its description and distribution."""
    lines = []
    for kind, entries in registry.index().items():
        lines.append(f"{kind}:")
        for name, entry in sorted(entries.items()):
            lines.append(f"  {name:<20} {entry.description}  [{entry.distribution}, plugin {entry.plugin}]")
    return "\n".join(lines)


USAGE = """usage: noisesearch {predict,resume,bench,list} ...

  predict   run searches (LightningCLI): noisesearch predict --help
  resume    continue an interrupted run from its journal: noisesearch resume DIR [--trainer.KEY VALUE ...]
  bench     run a scaling study: noisesearch bench --config STUDY.yaml --out DIR
  list      every registered algorithm, verifier and pipeline, with its distribution
  convert   a published .pt checkpoint to safetensors: noisesearch convert --help
"""


def resume_args(args: list[str]) -> list[str]:
    """``resume DIR [overrides]`` as the ``predict`` call that continues it."""
    if len(args) < 2 or args[1].startswith("-"):
        raise UsageError("usage: noisesearch resume DIR [--trainer.KEY VALUE ...]")
    out = Path(args[1])
    if not (out / "config.yaml").is_file() or not (out / "journal").is_dir():
        raise UsageError(f"{out} is no noisesearch run to resume: it needs config.yaml and journal/ "
                         "(start one with `noisesearch predict --out DIR`)")
    return ["predict", "--config", str(out / "config.yaml"), *args[2:], "--out", str(out), "--resume", "true",
            "--overwrite", "false"]


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


def run(args: list[str]) -> int:
    """Run one command; a user error raises UsageError (``main`` turns it into exit code 2)."""
    if args[:1] == ["list"]:
        print(format_plugins())
        return 0
    if args[:1] in (["--version"], ["-V"]):
        print(f"noisesearch {__version__}")
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] == "bench":
        from .bench import main as bench

        return bench(args[1:])
    if args[0] == "convert":
        from .convert import main as convert

        return convert(args[1:])
    if args[0] == "resume":
        args = resume_args(args)
    elif args[0] != "predict":
        raise UsageError(f"unknown command {args[0]!r}; commands: predict, resume, bench, list, convert")
    NoiseSearchCLI(args=args)
    return 0

if __name__ == "__main__":
    sys.exit(main())
