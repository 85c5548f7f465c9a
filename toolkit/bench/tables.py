"""``noisesearch bench tables DIR``: a finished study's markdown tables, as docs/results.md and docs/shapes.md print
them, every interval and comparison recomputed from the cells' per-search values (so ``--level`` holds for every
interval printed); and ``noisesearch bench pool``: a paired accuracy comparison pooled over studies, some of which
survive only as verdict counts.

The tables: the cells (values with intervals, against random search at the nearest NFEs and seconds, seconds, health),
accuracy by category; with ``--target CELL``, every cell at no more than a quarter of its NFEs and at no more than half
its seconds a search against it on the same searches; every other cell against the cheapest random search that spent
no fewer seconds (equal seconds, random search given the doubt), leaving out ``--unclean`` cells; with ``--rerun
OTHER`` (the same cells with another seed), whether each rerun cell falls inside this study's interval and each rerun
cell against random search with both studies pooled; with several reruns, a last table pooling every study that
holds a cell; with ``--pair CELL=REFERENCE``, named cells against named cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import UsageError
from . import uncertainty
from .hacking import budget_steps, hacking_table
from .rows import CellRow, PairedMetric, read_rows


class Tables:
    """The tables of one study, every interval at ``level`` from ``seed``'s resamples (the study's own seed)."""

    def __init__(self, rows: list[CellRow], seed: int = 0, level: float = uncertainty.LEVEL,
                 unclean: frozenset = frozenset()):
        self.rows, self.seed, self.level, self.unclean = rows, seed, level, unclean
        self.by_name = {row.cell: row for row in rows}

    def interval(self, row: CellRow, metric: str, digits: int = 3) -> str:
        value = row.metrics.get(metric)
        if value is None:
            return "-"
        bounds = uncertainty.intervals(row.per_search, self.seed, self.level).get(metric) \
            if metric in uncertainty.per_search_metrics(row.per_search) else None
        return f"{value:.{digits}f} [{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]" if bounds else f"{value:.{digits}f}"

    def paired(self, cell: dict, reference: dict, metric: str = "accuracy") -> PairedMetric:
        """The paired comparison of two cells' per-search values on one metric, at the tables' level."""
        (entry,) = [m for m in uncertainty.paired(cell, reference, self.seed, self.level) if m["metric"] == metric]
        return PairedMetric(**entry)

    def versus_random(self, row: CellRow, axis: str) -> str:
        """A row against the random-search cell the bench compared it with (``nfe`` or ``seconds``), recomputed."""
        comparison = row.comparison if axis == "nfe" else row.comparison_seconds
        if comparison is None or comparison.skipped or comparison.reference not in self.by_name:
            return ""
        reference = self.by_name[comparison.reference]
        if "correct" not in row.per_search:
            return ""
        entry = self.paired(row.per_search, reference.per_search)
        return f"{difference(entry)} ({comparison.reference.split('--')[-1]})"

    def cells(self) -> str:
        score = next((name for row in self.rows for name in row.metrics if name.startswith("verifier:")), None)
        score_title = score[len("verifier:"):] if score else "verifier"
        lines = [f"| cell | NFEs a search | accuracy [{self.percent}] | {score_title} score [{self.percent}] | vs random "
                 "at nearest NFEs (accuracy) | seconds a search | vs random at nearest seconds (accuracy) | Vendi | "
                 "ties | tau with the evaluator |", "|---|---|---|---|---|---|---|---|---|---|"]
        for row in self.rows:
            if row.infeasible:
                lines.append(f"| {row.label()} | infeasible | | | | | | | | |")
                continue
            versus, by_seconds = self.versus_random(row, "nfe"), self.versus_random(row, "seconds")
            mark = "*" if row.cell in self.unclean else ""
            reference = row.comparison_seconds.reference if row.comparison_seconds else None
            if mark or reference in self.unclean:
                by_seconds = "(seconds not clean: see the equal-seconds table)"
            health = row.health
            tau = health.kendall_tau.get("evaluator")
            lines.append(
                f"| {row.label()} | {row.nfe_used:.0f} | {self.interval(row, 'accuracy')} | "
                f"{self.interval(row, score, 2) if score else '-'} | {versus} | {optional(row.seconds, '.2f')}{mark} | "
                f"{by_seconds} | {optional(health.vendi, '.2f')} | {optional(health.tie_rate, '.2f')} | "
                f"{optional(tau, '+.2f')} |")
        return "\n".join(lines)

    @property
    def percent(self) -> str:
        return f"{100 * self.level:g}%"

    def categories(self) -> str:
        first = next((row for row in self.rows if not row.infeasible), None)
        names = [m[len("accuracy:"):] for m in (first.metrics if first else {}) if m.startswith("accuracy:")]
        lines = ["| cell | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for row in self.rows:
            if not row.infeasible:
                lines.append(f"| {row.label()} @ {row.nfe_used:.0f} | "
                             + " | ".join(self.interval(row, f"accuracy:{n}", 2) for n in names) + " |")
        return "\n".join(lines)

    def target(self, target: str, fraction: float = 0.25, axis: str = "nfe") -> str:
        """Every cell at no more than ``fraction`` of the target cell's NFEs (``axis`` nfe: issue #14's target, a
        quarter) or seconds a search (``seconds``: issue #27's, a half) against it on the same searches."""
        reference = self.cell(target)
        cost = (lambda r: r.nfe_used) if axis == "nfe" else (lambda r: r.seconds)
        unit = "NFEs" if axis == "nfe" else "seconds a search"
        lines = [f"| cell (at most {fraction:g} of its {cost(reference):.2f} {unit}) | NFEs | seconds a search | "
                 f"accuracy | minus {target} [{self.percent} paired], McNemar p |", "|---|---|---|---|---|"]
        for row in self.rows:
            if row.infeasible or row is reference or row.baseline or cost(row) > cost(reference) * fraction:
                continue
            if axis == "seconds" and row.cell in self.unclean:
                continue
            entry = self.paired(row.per_search, reference.per_search)
            lines.append(f"| {row.label()} | {row.nfe_used:.0f} | {row.seconds:.2f}{'*' * (row.cell in self.unclean)} "
                         f"| {row.metrics['accuracy']:.3f} | {difference(entry, mc=True)} |")
        return "\n".join(lines)

    def against(self, other: list[CellRow], name: str) -> str:
        """Each cell minus the same cell of another study run on the same searches under other settings (a guard,
        say): accuracy and the driving verifier, paired."""
        by_name = {row.cell: row for row in other}
        lines = [f"| cell | NFEs | accuracy here | in {name} | difference [{self.percent} paired], McNemar p | "
                 f"driving verifier, difference [{self.percent} paired] |", "|---|---|---|---|---|---|"]
        for row in self.rows:
            theirs = by_name.get(row.cell)
            if (theirs is None or row.infeasible or theirs.infeasible or "correct" not in row.per_search
                    or row.per_search["key"] != theirs.per_search["key"]):
                continue
            entries = {m["metric"]: m for m in uncertainty.paired(row.per_search, theirs.per_search, self.seed,
                                                                   self.level)}
            driving = [entries[f"verifier:{v}"] for v in row.drove if f"verifier:{v}" in entries]
            lines.append(f"| {row.label()} | {row.nfe_used:.0f} | {row.metrics['accuracy']:.3f} | "
                         f"{theirs.metrics['accuracy']:.3f} | {difference(PairedMetric(**entries['accuracy']))} | "
                         + "; ".join(difference(PairedMetric(**entry)) for entry in driving) + " |")
        return "\n".join(lines)

    def hacking(self) -> str:
        """Each step up in budget of each series: the driving verifier against the truth and held-out verifiers."""
        steps = budget_steps(self.rows, self.seed, self.level)
        return hacking_table(steps, self.percent) if steps else ""

    def cell(self, name: str) -> CellRow:
        if name not in self.by_name:
            raise UsageError(f"no cell {name!r} in this study; its cells: {', '.join(self.by_name)}")
        return self.by_name[name]

    def pairs(self, pairs: list[str]) -> str:
        """Named cells against named references on the same searches (``CELL=REFERENCE``)."""
        lines = [f"| cell | seconds a search | accuracy | against | its seconds | its accuracy | difference "
                 f"[{self.percent} paired], McNemar p |", "|---|---|---|---|---|---|---|"]
        for pair in pairs:
            name, _, other = pair.partition("=")
            row, reference = self.cell(name), self.cell(other)
            entry = self.paired(row.per_search, reference.per_search)
            lines.append(f"| {row.label()} @ {row.nfe_used:.0f} | {row.seconds:.2f} | {row.metrics['accuracy']:.3f} | "
                         f"{reference.label()} @ {reference.nfe_used:.0f} | {reference.seconds:.2f} | "
                         f"{reference.metrics['accuracy']:.3f} | {difference(entry)} |")
        return "\n".join(lines)

    def seconds(self, reruns: Sequence[list[CellRow]] = ()) -> str:
        """Every cell but random search's against the cheapest random-search cell (same verifiers) that spent no
        fewer seconds a search: beating it is beating random search at equal seconds, with the benefit of any
        doubt on random search's side. ``unclean`` cells take no part. With ``reruns`` (the same cells run on other
        days), the last column says whether the two cells' seconds differ by more than either's spread between
        runs."""
        rows = [r for r in self.rows if r.cell not in self.unclean]
        spread = spreads(self.rows, reruns)
        lines = ["| cell | seconds a search | accuracy | random search at no fewer seconds | its seconds | difference "
                 f"[{self.percent} paired], McNemar p | seconds apart beyond the spread between runs |",
                 "|---|---|---|---|---|---|---|"]
        for row in rows:
            if row.infeasible or row.baseline or row.algorithm == "random":
                continue
            richer = [r for r in rows if r.algorithm == "random" and not r.baseline and not r.infeasible
                      and r.verifier == row.verifier and r.seconds is not None and r.seconds >= row.seconds]
            if not richer:
                continue
            reference = min(richer, key=lambda r: r.seconds)
            entry = self.paired(row.per_search, reference.per_search)
            lines.append(f"| {row.label()} | {row.seconds:.2f} | {row.metrics['accuracy']:.3f} | "
                         f"{reference.nfe_used:.0f} NFEs | {reference.seconds:.2f} | {difference(entry)} | "
                         f"{apart(row, reference, spread)} |")
        return "\n".join(lines)

    def rerun(self, reruns: list[CellRow], target: Optional[str] = None) -> str:
        """Each rerun cell: inside this study's interval or not, and against random search with both pooled."""
        rerun_by_cell = {r.cell: r for r in reruns}
        both_targets = target in self.by_name and target in rerun_by_cell
        title = (f"| cell | this study [{self.percent}] | rerun | inside | pooled vs random at nearest NFEs "
                 f"[{self.percent} paired], McNemar p |")
        lines = [title + (f" pooled minus {target} |" if both_targets else ""),
                 "|---|---|---|---|---|" + ("---|" if both_targets else "")]
        for rerun in reruns:
            original = self.by_name.get(rerun.cell)
            if original is None or rerun.infeasible:
                continue
            low, high = uncertainty.intervals(original.per_search, self.seed, self.level)["accuracy"]
            value = rerun.metrics["accuracy"]
            versus = ""
            reference = rerun.comparison.reference if rerun.comparison else None
            if reference in self.by_name and reference in rerun_by_cell:
                both = pooled([original.per_search, rerun.per_search])
                entry = self.paired(both, pooled([self.by_name[reference].per_search,
                                                  rerun_by_cell[reference].per_search]))
                versus = f"{difference(entry)} ({reference.split('--')[-1]}, {len(both['key'])} searches)"
            line = (f"| {rerun.label()} | {self.interval(original, 'accuracy')} | {value:.3f} | "
                    f"{'yes' if low <= value <= high else '**no**'} | {versus} |")
            if both_targets:
                versus_target = ""
                if rerun.cell != target:
                    both = pooled([original.per_search, rerun.per_search])
                    versus_target = difference(self.paired(
                        both, pooled([self.by_name[target].per_search, rerun_by_cell[target].per_search])))
                line += f" {versus_target} |"
            lines.append(line)
        return "\n".join(lines)

    def pooled(self, studies: list[list[CellRow]]) -> str:
        """Each cell of this study against its random-search reference, every study that holds both pooled."""
        lines = ["| cell | studies | searches | accuracy, each study | pooled accuracy | pooled minus its reference "
                 f"[{self.percent} paired], McNemar p |", "|---|---|---|---|---|---|"]
        for row in self.rows:
            reference = row.comparison.reference if row.comparison else None
            holding = [(by[row.cell], by[reference]) for by in ({r.cell: r for r in rows} for rows in [self.rows, *studies])
                       if row.cell in by and reference in by and not by[row.cell].infeasible]
            if reference is None or len(holding) < 2:
                continue
            cell = pooled([c.per_search for c, _ in holding])
            entry = self.paired(cell, pooled([r.per_search for _, r in holding]))
            each = ", ".join(f"{c.metrics['accuracy']:.3f}" for c, _ in holding)
            lines.append(f"| {row.label()} | {len(holding)} | {len(cell['key'])} | {each} | "
                         f"{pooled_accuracy(cell):.3f} | {difference(entry)} ({reference.split('--')[-1]}) |")
        return "\n".join(lines)


def spreads(rows: list[CellRow], reruns: Sequence[list[CellRow]]) -> dict[str, float]:
    """Each cell's spread of seconds a search between this study and its reruns (the largest difference)."""
    found: dict[str, float] = {}
    for rerun in reruns:
        for other in rerun:
            here = next((row for row in rows if row.cell == other.cell), None)
            if here is not None and here.seconds is not None and other.seconds is not None:
                found[other.cell] = max(found.get(other.cell, 0.0), abs(here.seconds - other.seconds))
    return found


def apart(row: CellRow, reference: CellRow, spread: dict[str, float]) -> str:
    """Whether two cells' seconds differ by more than either's spread between runs (``-`` without reruns)."""
    known = [spread[name] for name in (row.cell, reference.cell) if name in spread]
    if not known:
        return "-"
    gap, widest = abs(row.seconds - reference.seconds), max(known)
    return f"yes ({gap:.2f} > {widest:.2f})" if gap > widest else f"no ({gap:.2f} <= {widest:.2f})"


def difference(entry: PairedMetric, digits: int = 3, mc: bool = False) -> str:
    """``+d [low, high], p P``; with ``mc`` the bounds' Monte Carlo error too (where a bound is checked against a
    line)."""
    low, high = entry.interval
    error = mc_text(entry) if mc else ""
    return f"{entry.difference:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]{error}, p {entry.p_value:.3g}"


def mc_text(entry: PairedMetric) -> str:
    """`` (Monte Carlo ±e)``: the bounds' Monte Carlo error, where the bootstrap gave one."""
    return f" (Monte Carlo ±{entry.mc_error:.4f})" if entry.mc_error is not None else ""


def optional(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def pooled(per_searches: list[dict]) -> dict:
    """Per-search values of one cell from several studies as one cell (keys prefixed by the study's position and
    ``|``: a prompt is one cluster across studies)."""
    out: dict = {}
    for i, per_search in enumerate(per_searches):
        for name, values in per_search.items():
            out.setdefault(name, []).extend([f"{i}|{v}" for v in values] if name == "key" else values)
    return out


def pooled_accuracy(per_search: dict) -> float:
    """Accuracy of pooled per-search values, as the bench computes it (the mean of the category accuracies)."""
    arrays = uncertainty.prepared(per_search)
    return uncertainty.metric_value("accuracy", arrays, np.arange(len(per_search["key"])))


def verdicts_from_counts(only_cell: int, only_reference: int, searches: int) -> tuple[dict, dict]:
    """Per-search verdicts of a cell and its reference with the given counts (searches both got right or both got
    wrong enter as right for both: neither the difference nor its bootstrap nor McNemar tells them apart)."""
    both = searches - only_cell - only_reference
    cell = [True] * only_cell + [False] * only_reference + [True] * both
    reference = [False] * only_cell + [True] * only_reference + [True] * both
    keys = list(range(searches))
    return {"key": keys, "correct": cell}, {"key": keys, "correct": reference}


def pooled_line(cell: dict, reference: dict, seed: int, level: float) -> str:
    """The plain verdict mean's paired difference, its interval and McNemar's exact p, with the counts."""
    tables = Tables([], seed, level)
    entry = tables.paired(cell, reference)
    low, high = entry.interval
    only_cell = sum(bool(a) and b is not None and not b for a, b in zip(cell["correct"], reference["correct"]))
    only_reference = sum(bool(b) and a is not None and not a for a, b in zip(cell["correct"], reference["correct"]))
    return (f"{entry.difference:+.4f} [{low:+.4f}, {high:+.4f}]{mc_text(entry)}, McNemar p {entry.p_value:.3g} ({only_cell} "
            f"searches "
            f"only the cell got right, {only_reference} only the reference, {len(cell['correct'])} searches)")


def study_verdicts(study: Path, cell: str, reference: str) -> tuple[dict, dict]:
    """Two cells' per-search verdicts of a study, in its order (categories left out: the plain verdict mean)."""
    tables = Tables(read_study(study))
    mine, theirs = tables.cell(cell).per_search, tables.cell(reference).per_search
    if mine["key"] != theirs["key"]:
        raise UsageError(f"{study}: {cell} and {reference} hold different searches; they cannot be paired")
    return ({"key": mine["key"], "correct": mine["correct"]}, {"key": theirs["key"], "correct": theirs["correct"]})


def read_study(folder: Path) -> list[CellRow]:
    if not (Path(folder) / "results.json").is_file():
        raise UsageError(f"{folder}: no results.json; give a finished bench study's --out folder")
    return read_rows(Path(folder) / "results.json")


def level_of(text: str) -> float:
    level = float(text)
    if not 0 < level < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a confidence level between 0 and 1")
    return level


class Parser(argparse.ArgumentParser):
    """argparse with the project's refusals: one line, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def tables_main(argv: list[str]) -> int:
    """``noisesearch bench tables DIR [...]``."""
    parser = Parser(prog="noisesearch bench tables", description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a bench study folder holding results.json")
    parser.add_argument("--target", help="the cell every cell at a quarter of its NFEs or half its seconds is "
                        "compared with")
    parser.add_argument("--rerun", type=Path, nargs="+", default=[], help="study folders with the same cells run "
                        "with other seeds (with several, a last table pools every study that holds a cell)")
    parser.add_argument("--seed", type=int, default=0, help="the study's seed (its bootstrap resamples)")
    parser.add_argument("--unclean", nargs="*", default=[], help="cells whose seconds were measured while other work "
                        "shared the machine: marked *, and left out of every comparison by seconds")
    parser.add_argument("--pair", nargs="+", default=[], metavar="CELL=REFERENCE",
                        help="cells compared with named cells on the same searches (a table of their own)")
    parser.add_argument("--against", type=Path, help="a study folder with the same cells run on the same searches "
                        "under other settings: each cell here minus its twin there (a table of its own)")
    parser.add_argument("--level", type=level_of, default=uncertainty.LEVEL,
                        help="the confidence level of every interval printed (e.g. 0.9875 for a 95%% claim checked at "
                        "four looks, Bonferroni)")
    args = parser.parse_args(argv)
    tables = Tables(read_study(args.study), args.seed, args.level, frozenset(args.unclean))
    print(f"Every interval below is a {tables.percent} bootstrap interval clustered by prompt (conditions resampled, "
          "then searches within them), recomputed from the cells' per-search values.\n")
    print(tables.cells(), end="\n\n")
    print(tables.categories(), end="\n\n")
    if args.target:
        print(tables.target(args.target), end="\n\n")
        print(tables.target(args.target, 0.5, "seconds"), end="\n\n")
    reruns = [read_study(folder) for folder in args.rerun]
    print(tables.seconds(reruns), end="\n\n")
    if tables.hacking():
        print(tables.hacking(), end="\n\n")
    if args.against:
        print(tables.against(read_study(args.against), args.against.name), end="\n\n")
    if args.pair:
        print(tables.pairs(args.pair), end="\n\n")
    for rerun in reruns:
        print(tables.rerun(rerun, args.target), end="\n\n")
    if len(reruns) > 1:
        print(tables.pooled(reruns))
    return 0


def pool_main(argv: list[str]) -> int:
    """``noisesearch bench pool``: a paired accuracy comparison pooled over studies (``--counts`` for a study known
    only by its verdict counts, ``--study`` for one at hand)."""
    parser = Parser(prog="noisesearch bench pool", description=pool_main.__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs=3, type=int, action="append", default=[],
                        metavar=("ONLY_CELL", "ONLY_REFERENCE", "SEARCHES"),
                        help="a study known only by its counts (repeatable)")
    parser.add_argument("--study", type=Path, action="append", default=[], help="a bench study's folder (repeatable)")
    parser.add_argument("--cell", help="the cell's name in every --study")
    parser.add_argument("--reference", help="the reference cell's name in every --study")
    parser.add_argument("--level", type=level_of, default=uncertainty.LEVEL, help="the intervals' confidence level")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    args = parser.parse_args(argv)
    if args.study and not (args.cell and args.reference):
        parser.error("--study needs --cell and --reference: the two cells to pair")
    for only_cell, only_reference, searches in args.counts:
        if min(only_cell, only_reference) < 0 or only_cell + only_reference > searches:
            parser.error(f"--counts {only_cell} {only_reference} {searches}: the two counts must be non-negative "
                         "and sum to at most the searches")
    if not args.counts and not args.study:
        parser.error("give at least one --counts or --study")
    groups = [(f"counts {c} {r} {n}", verdicts_from_counts(c, r, n)) for c, r, n in args.counts]
    groups += [(str(study), study_verdicts(study, args.cell, args.reference)) for study in args.study]
    print(f"{100 * args.level:g}% intervals, clustered by prompt for --study (a study entered by --counts has no "
          "prompts: its searches are resampled one by one)")
    for name, (cell, reference) in groups:
        print(f"{name}: {pooled_line(cell, reference, args.seed, args.level)}")
    if len(groups) > 1:
        sides = [{"key": [f"{i}|{k}" for i, (_, pair) in enumerate(groups) for k in pair[side]["key"]],
                  "correct": [v for _, pair in groups for v in pair[side]["correct"]]} for side in (0, 1)]
        print("pooled: " + pooled_line(*sides, args.seed, args.level))
    sys.stdout.flush()
    return 0
