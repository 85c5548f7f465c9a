"""The ``noisesearch`` command: ``predict`` (LightningCLI) and ``list`` (every registered plugin)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from . import __version__, registry
from .data import ConditionsDataModule
from .errors import UsageError
from .module import SearchModule
from .progress import SearchProgressBar
from .writer import RUN_MARKERS, ResultWriter

warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")

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

    def before_predict(self) -> None:
        config = self.config["predict"]
        out = Path(config["out"])
        if not config["overwrite"] and any((out / marker).exists() for marker in RUN_MARKERS):
            raise UsageError(f"--out {out} already holds a run; pick another --out or pass --overwrite true")
        if config["overwrite"]:
            clear_run(out)
        tasks = self.datamodule.resolve(self.model.pipeline_cls)
        self.model.check_tasks(tasks)
        self.model.load()
        self.model.check_schedule()
        self.model.seed = int(config["seed_everything"])
        out.mkdir(parents=True, exist_ok=True)
        self._dump_config()
        (out / "config.yaml").write_text(yaml.safe_dump(self.config_dump, sort_keys=False))
        self.trainer.callbacks.append(ResultWriter(str(out)))

    def predict(self, model: SearchModule, datamodule: ConditionsDataModule, **kwargs) -> None:
        """Run ``trainer.predict``; results go to the writer, so none are kept in memory."""
        kwargs["return_predictions"] = False
        self.trainer.predict(model, datamodule=datamodule, **kwargs)


def clear_run(out: Path) -> None:
    """Remove a previous run's files from ``out`` (nothing else in the folder is touched)."""
    import shutil

    for name in ("summary.json", "grid.png", "config.yaml"):
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


USAGE = """usage: noisesearch {predict,list} ...

  predict   run searches (LightningCLI): noisesearch predict --help
  list      every registered algorithm, verifier and pipeline, with its distribution
"""


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``noisesearch`` command; user errors print one line and exit with code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args[:1] == ["list"]:
            print(format_plugins())
            return 0
        if args[:1] in (["--version"], ["-V"]):
            print(f"noisesearch {__version__}")
            return 0
        if not args or args[0] in ("-h", "--help"):
            print(USAGE)
            return 0
        if args[0] != "predict":
            raise UsageError(f"unknown command {args[0]!r}; commands: predict, list")
        NoiseSearchCLI(args=args if argv is not None else None)
    except UsageError as error:
        print(f"noisesearch: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
