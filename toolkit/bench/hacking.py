"""Reward hacking, measured: along each algorithm's budgets, the search verifier's score of the chosen samples
beside the ground truth and any held-out verifier, and a paired test of every budget step that flags the step where
the verifier rises while the truth (or a held-out verifier) falls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import uncertainty
from .rows import CellRow

RISES, FALLS = "rises", "falls"


@dataclass
class BudgetStep:
    """One step up in budget of one series (same algorithm, arguments and driving verifiers), on the same searches:
    each metric's paired difference (bigger budget minus smaller), its interval and its paired test."""

    series: str
    smaller: CellRow
    bigger: CellRow
    driving: list[str]  # the ``verifier:NAME`` metrics of the verifiers that drove the search
    differences: dict[str, dict] = field(default_factory=dict)  # metric -> uncertainty.paired's entry

    def direction(self, metric: str) -> Optional[str]:
        """``rises`` or ``falls`` where the paired interval excludes 0 (None where it does not, or no value)."""
        entry = self.differences.get(metric)
        bounds = entry and entry["interval"]
        if not bounds:
            return None
        return RISES if bounds[0] > 0 else FALLS if bounds[1] < 0 else None

    @property
    def held_out(self) -> list[str]:
        return [name for name in self.differences if name.startswith("verifier:") and name not in self.driving]

    def flags(self) -> list[str]:
        """What the step shows of hacking: a driving verifier that rises while the truth or a held-out verifier
        falls."""
        rising = [name for name in self.driving if self.direction(name) == RISES]
        if not rising:
            return []
        falling = [name for name in ("accuracy", *self.held_out) if self.direction(name) == FALLS]
        return [f"{', '.join(short(n) for n in rising)} rises while {short(name)} falls" for name in falling]


def short(metric: str) -> str:
    return metric[len("verifier:"):] if metric.startswith("verifier:") else metric


def series_of(rows: list[CellRow]) -> dict[str, list[CellRow]]:
    """Searched cells with an NFE budget, grouped by algorithm, arguments and driving verifiers, cheapest first."""
    grouped: dict[str, list[CellRow]] = {}
    for row in rows:
        if row.baseline or row.infeasible or row.budget_nfe is None or row.per_search is None:
            continue
        name = row.cell.rsplit("--", 1)[0]  # the cell's name without its budget
        grouped.setdefault(name, []).append(row)
    return {name: sorted(members, key=lambda r: r.nfe_used) for name, members in grouped.items() if len(members) > 1}


def budget_steps(rows: list[CellRow], seed: int, level: Optional[float] = None) -> list[BudgetStep]:
    """Every step up in budget of every series, compared on the same searches."""
    steps = []
    for name, members in series_of(rows).items():
        for smaller, bigger in zip(members, members[1:]):
            if smaller.per_search["key"] != bigger.per_search["key"]:
                continue
            step = BudgetStep(name, smaller, bigger, [f"verifier:{v}" for v in bigger.drove])
            for entry in uncertainty.paired(bigger.per_search, smaller.per_search, seed, level):
                if entry["metric"] == "accuracy" or entry["metric"].startswith("verifier:"):
                    step.differences[entry["metric"]] = entry
            steps.append(step)
    return steps


def hacking_table(steps: list[BudgetStep], percent: str) -> str:
    """A markdown table of the budget steps: each metric's paired difference, its interval, the paired test's p."""
    lines = [f"| series | NFEs | driving verifier, difference [{percent} paired], p | accuracy, difference, McNemar p "
             "| held-out verifiers, difference, p | flag |", "|---|---|---|---|---|---|"]
    for step in steps:
        def cell(names: list[str]) -> str:
            found = [n for n in names if n in step.differences]
            return "; ".join(f"{short(n)} {difference_text(step.differences[n])}" for n in found)

        flags = step.flags()
        lines.append(f"| {step.series} | {step.smaller.nfe_used:.0f} → {step.bigger.nfe_used:.0f} | "
                     f"{cell(step.driving) or '-'} | {cell(['accuracy']) or '-'} | {cell(step.held_out) or '-'} | "
                     f"{'**' + '; '.join(flags) + '**' if flags else '-'} |")
    return "\n".join(lines)


def difference_text(entry: dict) -> str:
    bounds = entry["interval"]
    interval = f" [{bounds[0]:+.3g}, {bounds[1]:+.3g}]" if bounds else ""
    return f"{entry['difference']:+.3g}{interval}, p {entry['p_value']:.2g}"


def plot_hacking(rows: list[CellRow], path: Path) -> bool:
    """hacking.png: per series, the driving verifier's mean score (left axis) and accuracy (right axis) of the
    chosen samples against NFEs a search; False (nothing drawn) when no series has two budgets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = series_of(rows)
    if not series:
        return False
    figure, panels = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), squeeze=False)
    for panel, (name, members) in zip(panels[0], series.items()):
        costs = [row.nfe_used for row in members]
        for metric in (f"verifier:{v}" for v in members[-1].drove):
            panel.plot(costs, [row.metrics.get(metric) for row in members], "o-", label=short(metric))
        panel.set_xscale("log")
        panel.set_xlabel("NFEs a search")
        panel.set_ylabel("driving verifier score")
        panel.set_title(name, fontsize=8)
        if all("accuracy" in row.metrics for row in members):
            truth = panel.twinx()
            truth.plot(costs, [row.metrics["accuracy"] for row in members], "s--", color="black", label="accuracy")
            truth.set_ylabel("accuracy (ground truth)")
        panel.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
