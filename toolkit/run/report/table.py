"""The results table a run prints at its end and ``noisesearch show DIR`` prints again, from ``summary.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from typing import Optional

if TYPE_CHECKING:
    from ...store.records import ResultRecord

PROMPT_WIDTH = 40


def condition_label(condition: dict) -> str:
    """A condition as people write it: ``3`` for a class, ``"a red fox"`` for a prompt (long prompts cut with …)."""
    if "class_label" in condition:
        return str(condition["class_label"])
    prompt = condition.get("prompt", "")
    if len(prompt) > PROMPT_WIDTH:
        prompt = prompt[: PROMPT_WIDTH - 1] + "…"
    return json.dumps(prompt, ensure_ascii=False)


def driving_verifier(summary: dict) -> Optional[str]:
    """The name of the run's first verifier (the one its searches are driven by when it is alone)."""
    specs = summary.get("verifiers") or []
    return specs[0].partition(":")[0] if specs else None


def format_table(records: "list[ResultRecord]", summary: Optional[dict] = None) -> str:
    """One row per search: condition, repeat, the first verifier's raw score, the ensemble's aggregate (with several
    verifiers), NFEs, candidates and seconds."""
    summary = summary or {}
    verifier = driving_verifier(summary)
    several = len(summary.get("verifiers") or []) > 1
    width = max([len("condition")] + [len(condition_label(r.condition)) for r in records])
    raw_title = verifier or "raw"
    raw_width = max(9, len(raw_title))
    title = f"{'condition':<{width}} {'rep':>3} {raw_title:>{raw_width}}"
    lines = [title + (f" {'aggregate':>9}" if several else "") + f" {'nfe':>7} {'cands':>6} {'s':>7}"]
    for r in sorted(records, key=lambda r: r.index):
        raw = r.scores.get(verifier) if verifier else None
        raw_text = f"{raw:>{raw_width}.4f}" if isinstance(raw, (int, float)) else f"{'-':>{raw_width}}"
        seconds = f"{r.seconds:>7.2f}" if isinstance(r.seconds, (int, float)) else f"{'-':>7}"
        line = f"{condition_label(r.condition):<{width}} {r.repeat:>3} {raw_text}"
        lines.append(line + (f" {r.score:>9.4f}" if several else "") + f" {r.nfe:>7} {r.candidates:>6} "
                     + seconds)
    return "\n".join(lines)


def format_cost(summary: dict) -> str:
    """The run's cost line: NFEs, seconds, and each verifier's seconds."""
    scoring = ", ".join(f"{name} {seconds} s" for name, seconds in (summary.get("verifier_s") or {}).items())
    return f"nfe_used {summary.get('nfe_used')} in {summary.get('elapsed_s')} s (verifiers: {scoring or 'none'})"
