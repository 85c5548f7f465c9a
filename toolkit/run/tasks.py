"""The searches a run is asked for: classes, prompts or a prompts file, as conditions (checked without Lightning)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from ..conditions import Condition, parse_classes
from ..errors import UsageError

DATA_KEYS = ("classes", "prompts", "prompts_file", "per_condition", "batch_size")


def conditions_of(classes: Any = None, prompts: Optional[Sequence[str]] = None,
                  prompts_file: Optional[str] = None) -> Optional[list[Condition]]:
    """The conditions ``data.classes`` ("3", "0,4,7", "0-9"), ``data.prompts`` or ``data.prompts_file`` name
    (None: none given, the pipeline's classes); more than one of them, or an empty one, is refused."""
    given = [name for name, value in (("classes", classes), ("prompts", prompts), ("prompts_file", prompts_file))
             if value is not None]
    if len(given) > 1:
        raise UsageError(f"give one of data.classes, data.prompts or data.prompts_file, not {' and '.join(given)}")
    conditions: Optional[list[Condition]] = None
    if classes is not None:
        conditions = [Condition(class_label=label) for label in parse_classes(str(classes))]
    elif prompts is not None:
        conditions = [Condition(prompt=text) for text in ([prompts] if isinstance(prompts, str) else prompts)]
    elif prompts_file is not None:
        conditions = [Condition(prompt=text) for text in read_prompts(prompts_file)]
    if conditions is not None and not conditions:
        raise UsageError("no conditions: data.classes, data.prompts or data.prompts_file is empty")
    return conditions


def read_prompts(path: str) -> list[str]:
    """Prompts of a text file, one per line, or of a JSONL file (GenEval's metadata): each line's ``prompt``."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"data.prompts_file {path!r} does not exist; give a text file with one prompt per line")
    if file.suffix == ".jsonl":
        return _jsonl_prompts(file)
    lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _jsonl_prompts(file: Path) -> list[str]:
    prompts = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str) or not entry["prompt"].strip():
            raise UsageError(f"{file}:{number}: expected a JSON object with a \"prompt\" string")
        prompts.append(entry["prompt"].strip())
    return prompts
