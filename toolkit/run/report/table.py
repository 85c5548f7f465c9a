"""The results table a run prints at its end and ``noisesearch show DIR`` prints again, from ``summary.json``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ...store.records import ResultRecord
    from ...store.run_records import Cost, RunHeader, Summary

PROMPT_WIDTH = 40


def condition_label(condition: dict) -> str:
    """A condition as people write it: ``3`` for a class, ``"a red fox"`` for a prompt (long prompts cut with …)."""
    if "class_label" in condition:
        return str(condition["class_label"])
    prompt = condition.get("prompt", "")
    if len(prompt) > PROMPT_WIDTH:
        prompt = prompt[: PROMPT_WIDTH - 1] + "…"
    return json.dumps(prompt, ensure_ascii=False)


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


def format_table(records: "list[ResultRecord]", header: "RunHeader") -> str:
    """One row per search: condition, repeat, the first verifier's raw score of the first plain draw (what no search
    returns) and of the chosen candidate, the gain, the ensemble's aggregate (with several verifiers), how many
    other candidates tied with the chosen one, NFEs, candidates and seconds."""
    verifier = header.driving_verifier
    higher = header.higher(verifier)
    several = len(header.verifier_specs) > 1
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


def format_effect(records: "list[ResultRecord]", header: "RunHeader") -> Optional[str]:
    """What search did, in one line: how often it changed the answer, the mean gain, how often the choice was a
    tie (the lower id won); None when the run kept no first draws (older runs, algorithms without plain draws)."""
    verifier = header.driving_verifier
    higher = header.higher(verifier)
    gains = [g for g in (gain_of(r, verifier, higher) for r in records) if g is not None]
    if not gains:
        return None
    changed = sum(r.first_candidate is not None and r.candidate != r.first_candidate for r in records)
    tied = sum(bool(r.ties) for r in records)
    mean = sum(gains) / len(gains)
    text = (f"search changed the answer in {changed} of {len(records)} searches; mean gain over the first plain draw "
            f"{mean:+.{decimals(mean, 0.0)}f} {verifier}")
    return text + (f"; {tied} chose among tied candidates (the lower id)" if tied else "")


def judged(records: "list[ResultRecord]", first: bool = False) -> Optional[str]:
    """``X of M``: how many chosen images (or first plain draws) the world's judge marks correct; None unjudged."""
    verdicts = [v for v in (r.first_verdict if first else r.verdict for r in records) if v is not None]
    return f"{sum(verdicts)} of {len(verdicts)}" if verdicts else None


def judge_line(records: "list[ResultRecord]") -> Optional[str]:
    """The world's judge in one line: how many chosen images and first plain draws it marks correct; None when no
    search was judged."""
    chosen, first = judged(records), judged(records, first=True)
    if chosen is None:
        return None
    return f"the world's judge: chosen correct {chosen}" + (f", first draw {first}" if first else "")


def unspent(records: "list[ResultRecord]", header: "RunHeader", share: float = 0.1) -> Optional[str]:
    """A warning when the searches left more than ``share`` of their NFE budget unspent (an algorithm's settings
    that cannot use the budget), else None."""
    budget = header.model.budget_nfe
    if not records or not budget:
        return None
    spent = sum(r.nfe for r in records) / len(records)
    if spent >= (1 - share) * budget:
        return None
    return (f"{header.model.algorithm} spent {spent:.0f} of its {budget}-NFE budget per search "
            f"({spent / budget:.0%}): its algorithm_args cannot use more; raise them or lower model.budget_nfe")


def format_cost(cost: "Cost") -> str:
    """The run's cost line: NFEs (and the no-search baselines' apart), seconds, and each verifier's seconds."""
    scoring = ", ".join(f"{name} {seconds} s" for name, seconds in cost.verifier_s.items())
    baseline = f" (+{cost.baseline_nfe} for the no-search baselines)" if cost.baseline_nfe else ""
    return f"nfe_used {cost.nfe_used}{baseline} in {cost.elapsed_s} s (verifiers: {scoring or 'none'})"


def ending(summary: "Summary", wrote: str = "", warn_unspent: bool = True) -> tuple[list[str], Optional[str]]:
    """What a run prints when it ends (and ``show`` prints again): the table, what search did, the cost line and
    the clock's note; and a warning when the searches left much of their budget unspent."""
    records = summary.results
    lines = [format_table(records, summary.header)]
    judge = judge_line(records)
    if judge:
        lines.append(judge)
    effect = format_effect(records, summary.header)
    if effect:
        lines.append(effect)
    lines.append(format_cost(summary.cost) + wrote)
    if summary.cost.nfe_reached is not None:
        low, high = summary.cost.nfe_reached
        reached = f"{low}" if low == high else f"{low} to {high}"
        lines.append(f"the clock stopped the searches at {reached} NFEs; a rerun with model.budget_nfe set to a "
                     "search's NFEs (summary.json, results) gives its result again")
    return lines, unspent(records, summary.header) if warn_unspent else None
