"""The checks of ``noisesearch predict`` / ``resume`` that need no Lightning: config files, option names, budgets,
plugin names, conditions. They run before Lightning is imported, so a refused input answers in about the time of an
``import torch``; whatever they cannot read is left to LightningCLI's own parser."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Optional

import yaml

from .. import model_args
from ..conditions import Condition
from ..errors import UsageError
from ..store.folder import RunDir
from .session import RunSession
from .settings import build
from .tasks import DATA_KEYS, conditions_of

OWN = ("out", "overwrite", "quiet", "log_format", "process_group_timeout", "resume", "seed_everything")


def suggestion(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_yaml(path: str, what: str = "--config") -> dict:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{what} {path} does not exist; give a YAML config (configs/digits.yaml is one)")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{what} {path} is no valid YAML{where}; fix the file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} holds no mapping of settings; see configs/digits.yaml")
    return data


def gather(argv: list[str]) -> Optional[dict]:
    """The config the command line amounts to (config files, then ``--section.key value`` overrides), or None when
    it uses what only LightningCLI reads (help, printing the config, nested forms)."""
    config: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in ("-h", "--help", "--help-all") or token.startswith("--print_config"):
            return None
        if not token.startswith("--"):
            return None
        key, equals, value = token[2:].partition("=")
        if not equals:
            if i + 1 >= len(argv):
                return None
            value, i = argv[i + 1], i + 1
        i += 1
        if key == "config":
            merge(config, read_yaml(value))
            continue
        section, _, name = key.partition(".")
        if section in ("model", "data") and name and "." not in name:
            try:
                config.setdefault(section, {})[name] = yaml.safe_load(value)
            except yaml.YAMLError:
                return None
        elif section in OWN and not name:
            config[section] = value
    return config


def merge(into: dict, config: dict) -> None:
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key].update(value)
        else:
            into[key] = value


def check_keys(section: str, given: dict, known) -> None:
    for name in given:
        if name not in known:
            raise UsageError(f"{section}.{name} is no setting{suggestion(name, known)} (the {section} settings: "
                             f"{', '.join(known)})")


def check_model(model: dict) -> dict:
    """The ``model`` section checked for names and values against ``ModelArgs``' declaration; returns it with a
    single verifier name as a list."""
    model_args.check_names(model)
    model_args.check_values(model)
    model = dict(model)
    if isinstance(model.get("verifiers"), str):
        model["verifiers"] = [model["verifiers"]]
    return model


def preflight(argv: list[str]) -> bool:
    """Refuse, in one line and before Lightning loads, what the command line gets wrong (UsageError); True when
    there is nothing to do (``resume`` of a run that finished every search already, said here)."""
    args = list(argv[1:])
    folder = None
    if argv[0] == "resume":
        if not args or args[0].startswith("-"):
            raise UsageError("usage: noisesearch resume DIR [--trainer.KEY VALUE ...]")
        folder, args = RunDir(args[0]), args[1:]
        if not folder.can_resume():
            raise UsageError(f"{folder} is no noisesearch run to resume: it needs config.yaml and journal/ (start one "
                             "with `noisesearch predict --out DIR`)")
        args = ["--config", str(folder.config_path), *args]
    config = gather(args)
    if config is None:
        return False
    model = check_model(config.get("model") or {})
    data = config.get("data") or {}
    check_keys("data", data, DATA_KEYS)
    per_condition = data.get("per_condition")
    if per_condition is not None and (not isinstance(per_condition, int) or per_condition <= 0):
        raise UsageError(f"data.per_condition={per_condition!r}: give a positive whole number")
    try:
        settings = build(**model)
        conditions = conditions_of(data.get("classes"), data.get("prompts"), data.get("prompts_file"))
    except UsageError:
        raise
    except (TypeError, ValueError, AttributeError):
        return False  # a value of a type only LightningCLI's parser reads (or words): it reports it
    if conditions is not None:
        settings.family.check_conditions(conditions)
    seed = config.get("seed_everything", 0)
    if folder is not None and isinstance(seed, int) and not isinstance(seed, bool):
        RunSession(settings, folder.path, seed=seed, resume=True).fingerprint()  # settings changed: refused here
    if folder is not None and finished(folder, settings.family, conditions, per_condition or 1):
        if not str(config.get("quiet", "")).lower() in ("true", "1") and config.get("log_format", "text") == "text":
            print(f"noisesearch: {folder} already finished every search (summary.json); nothing to do", flush=True)
        return True
    return False


def finished(folder: RunDir, family, conditions, per_condition: int) -> bool:
    """Whether a run folder holds its summary and a result for every search its config asks for."""
    if not folder.is_finished():
        return False
    if conditions is None:
        if family.num_classes is None:
            return False
        conditions = [Condition(class_label=label) for label in range(family.num_classes)]
    _, results = folder.read_run()
    return all((condition.key, repeat) in results for condition in conditions for repeat in range(per_condition))
