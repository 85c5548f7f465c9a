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


def decimals(*values: Optional[float], least: int = 4, most: int = 10) -> int:
    """Enough decimals for distinct values to print distinctly (probabilities near 1 need more than four)."""
    known = {v for v in values if isinstance(v, (int, float))}
    for count in range(least, most + 1):
        if len({f"{v:.{count}f}" for v in known}) == len(known):
            return count
    return most


def gain_of(record: "ResultRecord", verifier: Optional[str], higher: bool) -> Optional[float]:
    """How much the chosen candidate beats the search's first plain draw on ``verifier`` (oriented), or None."""
    if not verifier or not record.first_scores or verifier not in record.first_scores:
        return None
    difference = record.scores[verifier] - record.first_scores[verifier]
    return difference if higher else -difference


def format_table(records: "list[ResultRecord]", summary: Optional[dict] = None) -> str:
    """One row per search: condition, repeat, the first verifier's raw score of the first plain draw (what no search
    returns) and of the chosen candidate, the gain, the ensemble's aggregate (with several verifiers), how many
    other candidates tied with the chosen one, NFEs, candidates and seconds."""
    summary = summary or {}
    verifier = driving_verifier(summary)
    higher = (summary.get("higher_is_better") or {}).get(verifier, True)
    several = len(summary.get("verifiers") or []) > 1
    width = max([len("condition")] + [len(condition_label(r.condition)) for r in records])
    rows = []
    for r in sorted(records, key=lambda r: r.index):
        best = r.scores.get(verifier) if verifier else None
        first = r.first_scores.get(verifier) if verifier and r.first_scores else None
        gain = gain_of(r, verifier, higher)
        places = decimals(best, first)
        rows.append([condition_label(r.condition), str(r.repeat), number(first, places), number(best, places),
                     number(gain, places, sign=True)] + ([f"{r.score:.4f}"] if several else [])
                    + [str(r.ties) if r.ties else ("-" if r.ties is None else ""), str(r.nfe), str(r.candidates),
                       f"{r.seconds:.2f}" if isinstance(r.seconds, (int, float)) else "-"])
    title = ["condition", "rep", "first", verifier or "best", "gain"] + (["aggregate"] if several else []) + \
        ["ties", "nfe", "cands", "s"]
    widths = [max(len(title[i]), *(len(row[i]) for row in rows)) if rows else len(title[i]) for i in range(len(title))]
    widths[0] = width
    lines = [" ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
             for line in [title] + rows]
    return "\n".join(line.rstrip() for line in lines)


def number(value: Optional[float], places: int, sign: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:+.{places}f}" if sign else f"{value:.{places}f}"


def format_effect(records: "list[ResultRecord]", summary: dict) -> Optional[str]:
    """What search did, in one line: how often it changed the answer, the mean gain, how often the choice was a
    tie (the lower id won); None when the run kept no first draws (older runs, algorithms without plain draws)."""
    verifier = driving_verifier(summary)
    higher = (summary.get("higher_is_better") or {}).get(verifier, True)
    gains = [g for g in (gain_of(r, verifier, higher) for r in records) if g is not None]
    if not gains:
        return None
    changed = sum(r.first_candidate is not None and r.candidate != r.first_candidate for r in records)
    tied = sum(bool(r.ties) for r in records)
    mean = sum(gains) / len(gains)
    text = (f"search changed the answer in {changed} of {len(records)} searches; mean gain over the first plain draw "
            f"{mean:+.{decimals(mean, 0.0)}f} {verifier}")
    return text + (f"; {tied} chose among tied candidates (the lower id)" if tied else "")


def unspent(records: "list[ResultRecord]", summary: dict, share: float = 0.1) -> Optional[str]:
    """A warning when the searches left more than ``share`` of their NFE budget unspent (an algorithm's settings
    that cannot use the budget), else None."""
    budget = summary.get("budget_nfe")
    if not records or not budget:
        return None
    spent = sum(r.nfe for r in records) / len(records)
    if spent >= (1 - share) * budget:
        return None
    return (f"{summary.get('algorithm')} spent {spent:.0f} of its {budget}-NFE budget per search "
            f"({spent / budget:.0%}): its algorithm_args cannot use more; raise them or lower model.budget_nfe")


def format_cost(summary: dict) -> str:
    """The run's cost line: NFEs, seconds, and each verifier's seconds."""
    scoring = ", ".join(f"{name} {seconds} s" for name, seconds in (summary.get("verifier_s") or {}).items())
    return f"nfe_used {summary.get('nfe_used')} in {summary.get('elapsed_s')} s (verifiers: {scoring or 'none'})"
