"""``noisesearch predict`` and ``resume``: the LightningCLI that runs searches and prepares the run folder."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from typing import Optional

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from .data import ConditionsDataModule
from ..engine import check
from ..errors import UsageError
from ..run.console import Console, LogFormat
from ..run.session import RunSession
from ..store.folder import RunDir
from .module import SearchModule
from .progress import SearchProgress
from .writer import RunCallback

warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")

TRAINER_DEFAULTS = {
    "accelerator": "auto",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
    "inference_mode": False,  # gradient-based search needs autograd inside predict; no_grad is used otherwise
    "enable_progress_bar": False,  # noisesearch draws its own (progress.SearchProgress)
}


class NoiseSearchCLI(LightningCLI):
    """LightningCLI with one subcommand, ``predict``, plus ``--out`` and ``--overwrite``."""

    def __init__(self, args: Optional[list[str]] = None):
        self.done = False  # a resumed run that had finished: nothing to predict
        super().__init__(
            SearchModule,
            ConditionsDataModule,
            subclass_mode_model=False,
            subclass_mode_data=False,
            seed_everything_default=0,
            save_config_callback=None,
            trainer_defaults=TRAINER_DEFAULTS,
            auto_configure_optimizers=False,
            parser_kwargs={"prog": "noisesearch", "description": "noise search for diffusion models",
                           "exit_on_error": False},
            args=args,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"predict": {"model", "dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--out", type=str, default="outputs/run", help="output folder of the run")
        parser.add_argument("--overwrite", type=bool, default=False, help="replace a finished run in --out")
        parser.add_argument("--quiet", type=bool, default=False, help="print nothing but errors and warnings")
        parser.add_argument("--log_format", type=LogFormat, default="text", help="text: a progress bar and the "
                            "results table; json: one JSON object per line on stdout (start, each search, end)")
        parser.add_argument("--process_group_timeout", type=Optional[float], default=None,
                            help="seconds a rank waits for the others at a collective before it stops (several "
                            "processes only); by default Lightning's (30 minutes)")
        parser.add_argument("--resume", type=bool, default=False, help="continue the run in --out from its journal "
                            "(`noisesearch resume DIR` sets this)")
        parser.link_arguments("model.shard", "trainer.use_distributed_sampler",
                              compute_fn=lambda shard: shard != "candidates")

    def instantiate_trainer(self, **kwargs):
        """With ``--process_group_timeout``, a DDP strategy made with Lightning's own ``timeout`` argument."""
        timeout = self.config[self.subcommand]["process_group_timeout"]
        trainer = self.config_init[self.subcommand]["trainer"]
        if timeout is not None:
            trainer["strategy"] = with_timeout(trainer.get("strategy", "auto"), timeout, trainer.get("devices"),
                                               trainer.get("num_nodes"))
        return super().instantiate_trainer(**kwargs)

    def before_predict(self) -> None:
        """Check the folder and settings on every rank (reads only), load the model, and hand the run's session to
        the callback that opens the folder once the process group has formed (rank 0 writes, the others wait)."""
        config = self.config["predict"]
        console = Console(config["log_format"], config["quiet"])
        session = RunSession(self.model.run_settings, config["out"], seed=int(config["seed_everything"]),
                             resume=bool(config["resume"]), overwrite=bool(config["overwrite"]), console=console)
        session.check_folder()
        tasks = self.datamodule.resolve(self.model.family)
        self.model.run_settings.check_tasks(tasks)
        self.done = session.is_done(tasks)
        if self.done:
            console.text(f"noisesearch: {session.out} already finished every search (summary.json); nothing to do")
            return
        self.model.models.prepare(self.trainer.strategy.root_device)
        check(self.model.pipeline, list(self.model.models.verifiers), self.model.run_settings.search)
        text = None
        if not config["resume"]:
            self._dump_config()
            # a rerun of the saved config must not replace this run: --overwrite is the rerun's own choice
            text = yaml.safe_dump({**self.config_dump, "overwrite": False}, sort_keys=False)
        self.trainer.callbacks.extend([SearchProgress(console), RunCallback(session, text)])

    def predict(self, model: SearchModule, datamodule: ConditionsDataModule, **kwargs) -> None:
        """Run ``trainer.predict``; results go to the run folder, so none are kept in memory."""
        if self.done:
            return
        kwargs["return_predictions"] = False
        self.trainer.predict(model, datamodule=datamodule, **kwargs)


def with_timeout(strategy, seconds: float, devices, num_nodes):
    """A registered DDP strategy (``ddp``, ``ddp_spawn``...; ``auto`` when several processes run) built with a
    process-group timeout through Lightning's ``StrategyRegistry``; any other strategy is left as it is."""
    from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

    several = (isinstance(devices, int) and devices > 1) or (isinstance(num_nodes, int) and num_nodes > 1)
    name = "ddp" if strategy == "auto" and several else strategy
    if not isinstance(name, str) or name not in StrategyRegistry:
        return strategy
    entry = StrategyRegistry[name]
    if not issubclass(entry["strategy"], DDPStrategy):
        return strategy
    return entry["strategy"](**entry["init_params"], timeout=timedelta(seconds=seconds))


def resume_args(args: list[str]) -> list[str]:
    """``resume DIR [overrides]`` as the ``predict`` call that continues it."""
    if len(args) < 2 or args[1].startswith("-"):
        raise UsageError("usage: noisesearch resume DIR [--trainer.KEY VALUE ...]")
    run_dir = RunDir(args[1])
    if not run_dir.can_resume():
        raise UsageError(f"{run_dir} is no noisesearch run to resume: it needs config.yaml and journal/ "
                         "(start one with `noisesearch predict --out DIR`)")
    out = run_dir.path
    return ["predict", "--config", str(run_dir.config_path), *args[2:], "--out", str(out), "--resume", "true",
            "--overwrite", "false"]


def quiet_libraries() -> None:
    """Leave out Lightning's notices (accelerators found, seeds, tips) and the model libraries' loading bars."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for module in ("transformers", "diffusers"):
        try:
            __import__(module).utils.logging.disable_progress_bar()
        except (ImportError, AttributeError):
            pass


def predict(args: list[str]) -> None:
    """Run ``predict ...`` or ``resume DIR ...`` (a user error raises UsageError); ``--help`` prints the lean help,
    ``--help-all`` LightningCLI's whole one."""
    if "--help-all" in args:
        args = [arg if arg != "--help-all" else "--help" for arg in args]
    elif "-h" in args or "--help" in args:
        print(lean_help(full_help(args)))
        return
    if args[0] == "resume":
        args = resume_args(args)
    quiet_libraries()
    from jsonargparse import ArgumentError

    try:
        NoiseSearchCLI(args=args)
    except ArgumentError as error:
        raise UsageError(condense(str(error))) from None


# the Trainer's options that mean something for predict; --help-all lists the rest (training-only)
PREDICT_TRAINER = ("accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks",
                   "default_root_dir", "plugins", "profiler")
SECTIONS = ("model", "data", "run", "trainer")


def full_help(args: list[str]) -> str:
    """LightningCLI's own help text."""
    import contextlib
    import io

    quiet_libraries()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            NoiseSearchCLI(args=["predict", "--help"])
        except SystemExit:
            pass
    return text.getvalue()


def lean_help(text: str) -> str:
    """The help a user reads: the project's options first (model, data, the run), then the Trainer's options that
    apply to predict; no training-only options, linked-argument internals or docstring markup."""
    import re

    blocks: dict[str, list[str]] = {name: [] for name in SECTIONS}
    section, kept = None, 0
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = ("run" if line.startswith("options:") else "trainer" if line.startswith("Customize every")
                       else "model" if line.startswith("Noise search") else "data" if line.startswith("Turns")
                       else None)
            continue
        if section is None:
            continue
        if line.startswith("  -"):
            option = line.split()[0].split(",")[-1]
            keep = not option.endswith(".help") and option not in ("-h", "--trainer", "--model", "--data") and (
                section != "trainer" or option.split(".", 1)[-1] in PREDICT_TRAINER)
            blocks[section].append(line if keep else "\0")
            kept = 0
        elif blocks[section] and blocks[section][-1] != "\0" and (section != "trainer" or kept < 3):
            blocks[section].append(line)  # the Trainer's long descriptions are cut at three lines
            kept += 1
    titles = {"model": "Search (model.*): what is searched, how, and at what cost",
              "data": "Conditions (data.*): what to search for",
              "run": "The run: config, output folder, messages, resume",
              "trainer": "Devices and processes (trainer.*; --help-all lists the Trainer's other options)"}
    out = ["usage: noisesearch predict [--config CONFIG.yaml] [--model.KEY VALUE] [--data.KEY VALUE] "
           "[--trainer.KEY VALUE] [--out DIR]", "       noisesearch predict --help-all   (every option LightningCLI "
           "knows)", ""]
    for name in SECTIONS:
        lines = [line for line in blocks[name] if line != "\0"]
        out += [titles[name] + ":", *lines, ""]
    return re.sub(r"``([^`]+)``", r"\1", "\n".join(out)).rstrip() + "\n"


def condense(message: str) -> str:
    """jsonargparse's report of a config-layer mistake as one line: the key, what it wants, what it got."""
    import re

    lines = [line.strip() for line in message.splitlines() if line.strip()]
    key = re.search(r'Parser key "([^"]+)"', message)
    wants = [line[2:] for line in lines if line.startswith("- ") and "NoneType" not in line]
    given = next((line for line in lines if line.startswith("Given value:")), None)
    if key:
        detail = wants[0] if wants else lines[-1]
        detail = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", detail)
        return f"{key.group(1)}: {detail}" + (f" ({given.lower()})" if given else "") + \
            "; see `noisesearch predict --help`"
    return (lines[0] if lines else message) + "; see `noisesearch predict --help`"


def predict_config(config: dict) -> None:
    """Run ``predict`` from a structured config (bench's cells): the same checks and run as the command line."""
    quiet_libraries()
    NoiseSearchCLI(args={"subcommand": "predict", "predict": config})
