"""Markdown tables of a finished bench study, as docs/results.md and docs/shapes.md print them.

    python benchmarks/study_tables.py outputs/shapes-study --target random--shapes-clip--960nfe

Every number comes from the study's results.json: values with their 95% bootstrap intervals, the paired comparison
with random search at the nearest NFEs (`comparison`) and at the nearest seconds (`comparison_seconds`), cost,
verifier health; with ``--target CELL``, every cell at no more than a quarter of that cell's NFEs (issue #14's
target) and at no more than half its seconds a search (issue #27's) compared with it on the same searches
(uncertainty.paired, the study's seed); every other cell against the cheapest random search that spent no fewer
seconds (equal seconds, random search given the doubt), leaving out ``--unclean`` cells (seconds measured while
other work shared the machine); with ``--rerun OTHER`` (the same cells with another seed), whether each rerun cell
falls inside this study's interval, and each rerun cell against random search at the nearest NFEs with both
studies' searches pooled (and against ``--target`` pooled, where both studies ran it); with several reruns, a last
table pools, for each cell, every study that ran it and its random-search reference; with ``--pair CELL=REFERENCE``,
named cells against named cells (e.g. a cell driven by an early verifier against random search driven by its teacher);
``--level`` sets the intervals' confidence level (a claim checked at several looks needs a wider one).

    python benchmarks/study_tables.py outputs/shapes-study --rerun outputs/shapes-seeds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from noisesearch.bench.runner import uncertainty


def interval(row: dict, metric: str, digits: int = 3) -> str:
    value, bounds = row["metrics"].get(metric), row.get("intervals", {}).get(metric)
    if value is None:
        return "-"
    return f"{value:.{digits}f} [{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]" if bounds else f"{value:.{digits}f}"


def difference(entry: dict, digits: int = 3) -> str:
    low, high = entry["interval"]
    return (f"{entry['difference']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}], "
            f"p {entry['p_value']:.3g}")


def paired_accuracy(cell: dict, reference: dict, seed: int) -> dict:
    """uncertainty.paired's accuracy entry for two cells' per-search values."""
    (entry,) = [m for m in uncertainty.paired(cell, reference, seed) if m["metric"] == "accuracy"]
    return entry


def optional(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def label(row: dict) -> str:
    if row["baseline"]:
        return f"steps baseline, {row['steps']} steps"
    args = ", ".join(f"{k} {v}" for k, v in row["algorithm_args"].items())
    return f"{row['algorithm']}{f' ({args})' if args else ''}, {row['verifier']}"


def versus_random(row: dict, key: str) -> str:
    """The accuracy entry of a row's comparison with random search (``comparison`` at the nearest NFEs,
    ``comparison_seconds`` at the nearest seconds), with the reference's budget."""
    entry = next((m for m in row.get(key, {}).get("metrics", []) if m["metric"] == "accuracy"), None)
    return f"{difference(entry)} ({row[key]['reference'].split('--')[-1]})" if entry else ""


def cells_table(rows: list[dict], unclean: frozenset = frozenset()) -> str:
    score = next(name for row in rows for name in row["metrics"] if name.startswith("verifier:"))
    lines = [f"| cell | NFEs a search | accuracy [95%] | {score[len('verifier:'):]} score [95%] | vs random at nearest "
             "NFEs (accuracy) | seconds a search | vs random at nearest seconds (accuracy) | Vendi | ties | tau with "
             "the evaluator |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("infeasible"):
            lines.append(f"| {label(row)} | infeasible | | | | | | | | |")
            continue
        versus, by_seconds = (versus_random(row, key) for key in ("comparison", "comparison_seconds"))
        mark = "*" if row["cell"] in unclean else ""
        if mark or row.get("comparison_seconds", {}).get("reference") in unclean:
            by_seconds = "(seconds not clean: see the equal-seconds table)"
        health = row.get("health", {})
        tau = health.get("kendall_tau", {}).get("evaluator")
        ties, vendi, seconds = health.get("tie_rate"), health.get("vendi"), row["cost"].get("wall_s_per_search")
        lines.append(
            f"| {label(row)} | {row['nfe_used']:.0f} | {interval(row, 'accuracy')} | "
            f"{interval(row, score, 2)} | {versus} | {optional(seconds, '.2f')}{mark} | {by_seconds} | "
            f"{optional(vendi, '.2f')} | {optional(ties, '.2f')} | {optional(tau, '+.2f')} |")
    return "\n".join(lines)


def categories_table(rows: list[dict]) -> str:
    names = [m[len("accuracy:"):] for m in rows[0]["metrics"] if m.startswith("accuracy:")]
    lines = ["| cell | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows:
        if not row.get("infeasible"):
            lines.append(f"| {label(row)} @ {row['nfe_used']:.0f} | "
                         + " | ".join(interval(row, f"accuracy:{n}", 2) for n in names) + " |")
    return "\n".join(lines)


def seconds(row: dict) -> float:
    return row["cost"]["wall_s_per_search"]


def target_table(rows: list[dict], target: str, seed: int, fraction: float = 0.25, axis: str = "nfe",
                 unclean: frozenset = frozenset()) -> str:
    """Every cell at no more than ``fraction`` of the target cell's NFEs (``axis`` nfe: issue #14's target, a
    quarter) or seconds per search (``seconds``: issue #27's, a half) against it on the same searches."""
    reference = next(r for r in rows if r["cell"] == target)
    cost = (lambda r: r["nfe_used"]) if axis == "nfe" else seconds
    unit = "NFEs" if axis == "nfe" else "seconds a search"
    lines = [f"| cell (at most {fraction:g} of its {cost(reference):.2f} {unit}) | NFEs | seconds a search | accuracy "
             f"| minus {target} [95% paired], McNemar p |", "|---|---|---|---|---|"]
    for row in rows:
        if row.get("infeasible") or row is reference or row["baseline"] or cost(row) > cost(reference) * fraction:
            continue
        if axis == "seconds" and row["cell"] in unclean:
            continue
        entry = paired_accuracy(row["per_search"], reference["per_search"], seed)
        lines.append(f"| {label(row)} | {row['nfe_used']:.0f} | {seconds(row):.2f}{'*' * (row['cell'] in unclean)} | "
                     f"{row['metrics']['accuracy']:.3f} | {difference(entry)} |")
    return "\n".join(lines)


def pairs_table(rows: list[dict], pairs: list[str], seed: int) -> str:
    """Named cells against named references on the same searches (``CELL=REFERENCE``): for cells the bench does not
    pair itself, such as one driven by an early verifier against random search driven by its teacher."""
    by_name = {r["cell"]: r for r in rows}
    lines = ["| cell | seconds a search | accuracy | against | its seconds | its accuracy | difference [95% paired], "
             "McNemar p |", "|---|---|---|---|---|---|---|"]
    for pair in pairs:
        name, _, other = pair.partition("=")
        missing = [n for n in (name, other) if n not in by_name]
        if missing:
            raise SystemExit(f"--pair {pair}: no cell {missing[0]!r} in this study")
        row, reference = by_name[name], by_name[other]
        entry = paired_accuracy(row["per_search"], reference["per_search"], seed)
        lines.append(f"| {label(row)} @ {row['nfe_used']:.0f} | {seconds(row):.2f} | {row['metrics']['accuracy']:.3f} | "
                     f"{label(reference)} @ {reference['nfe_used']:.0f} | {seconds(reference):.2f} | "
                     f"{reference['metrics']['accuracy']:.3f} | {difference(entry)} |")
    return "\n".join(lines)


def seconds_table(rows: list[dict], seed: int, unclean: frozenset = frozenset()) -> str:
    """Every cell but random search's against the cheapest random-search cell (same verifiers) that spent no fewer
    seconds a search: beating it is beating random search at equal seconds, with the benefit of any doubt on random
    search's side. Cells in ``unclean`` (seconds measured while other work shared the cores) take no part."""
    rows = [r for r in rows if r["cell"] not in unclean]
    lines = ["| cell | seconds a search | accuracy | random search at no fewer seconds | its seconds | difference "
             "[95% paired], McNemar p |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("infeasible") or row["baseline"] or row["algorithm"] == "random":
            continue
        richer = [r for r in rows if r["algorithm"] == "random" and not r["baseline"] and not r.get("infeasible")
                  and r["verifier"] == row["verifier"] and seconds(r) >= seconds(row)]
        if not richer:
            continue
        reference = min(richer, key=seconds)
        entry = paired_accuracy(row["per_search"], reference["per_search"], seed)
        lines.append(f"| {label(row)} | {seconds(row):.2f} | {row['metrics']['accuracy']:.3f} | "
                     f"{reference['nfe_used']:.0f} NFEs | {seconds(reference):.2f} | {difference(entry)} |")
    return "\n".join(lines)


def pooled(per_searches: list[dict]) -> dict:
    """Per-search values of one cell from several studies as one cell (keys prefixed by the study's position)."""
    out: dict = {}
    for i, per_search in enumerate(per_searches):
        for name, values in per_search.items():
            out.setdefault(name, []).extend([f"{i}:{v}" for v in values] if name == "key" else values)
    return out


def rerun_table(rows: list[dict], reruns: list[dict], seed: int, target: str | None = None) -> str:
    by_cell = {r["cell"]: r for r in rows}
    rerun_by_cell = {r["cell"]: r for r in reruns}
    both_targets = target in by_cell and target in rerun_by_cell
    header = "| cell | this study [95%] | rerun | inside | pooled vs random at nearest NFEs [95% paired], McNemar p |"
    lines = [header + (f" pooled minus {target} |" if both_targets else ""),
             "|---|---|---|---|---|" + ("---|" if both_targets else "")]
    for rerun in reruns:
        original = by_cell.get(rerun["cell"])
        if original is None or rerun.get("infeasible"):
            continue
        low, high = original["intervals"]["accuracy"]
        value = rerun["metrics"]["accuracy"]
        versus = ""
        if rerun.get("comparison") and rerun["comparison"]["reference"] in by_cell:
            reference = rerun["comparison"]["reference"]
            rerun_reference = next(r for r in reruns if r["cell"] == reference)
            both = pooled([original["per_search"], rerun["per_search"]])
            entry = paired_accuracy(both, pooled([by_cell[reference]["per_search"], rerun_reference["per_search"]]),
                                    seed)
            versus = f"{difference(entry)} ({reference.split('--')[-1]}, {len(both['key'])} searches)"
        line = (f"| {label(rerun)} | {interval(original, 'accuracy')} | {value:.3f} | "
                f"{'yes' if low <= value <= high else '**no**'} | {versus} |")
        if both_targets:
            versus_target = ""
            if rerun["cell"] != target:
                both = pooled([original["per_search"], rerun["per_search"]])
                versus_target = difference(paired_accuracy(
                    both, pooled([by_cell[target]["per_search"], rerun_by_cell[target]["per_search"]]), seed))
            line += f" {versus_target} |"
        lines.append(line)
    return "\n".join(lines)


def pooled_accuracy(per_search: dict) -> float:
    """Accuracy of pooled per-search values, as the bench computes it (the mean of the category accuracies)."""
    arrays = uncertainty.prepared(per_search)
    return uncertainty.metric_value("accuracy", arrays, np.arange(len(per_search["key"])))


def pooled_table(studies: list[list[dict]], seed: int) -> str:
    """Each cell of the first study against its random-search reference with every study that holds both pooled."""
    lines = ["| cell | studies | searches | accuracy, each study | pooled accuracy | pooled minus its reference "
             "[95% paired], McNemar p |", "|---|---|---|---|---|---|"]
    for row in studies[0]:
        reference = (row.get("comparison") or {}).get("reference")
        holding = [(by[row["cell"]], by[reference]) for by in ({r["cell"]: r for r in rows} for rows in studies)
                   if row["cell"] in by and reference in by and not by[row["cell"]].get("infeasible")]
        if reference is None or len(holding) < 2:
            continue
        cell = pooled([c["per_search"] for c, _ in holding])
        entry = paired_accuracy(cell, pooled([r["per_search"] for _, r in holding]), seed)
        each = ", ".join(f"{c['metrics']['accuracy']:.3f}" for c, _ in holding)
        lines.append(f"| {label(row)} | {len(holding)} | {len(cell['key'])} | {each} | "
                     f"{pooled_accuracy(cell):.3f} | {difference(entry)} "
                     f"({reference.split('--')[-1]}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="a bench study folder holding results.json")
    parser.add_argument("--target", help="the cell that every cell at a quarter of its NFEs or at half its seconds "
                        "is compared with")
    parser.add_argument("--rerun", type=Path, nargs="+", default=[], help="study folders with the same cells run "
                        "with other seeds (with several, a last table pools every study that holds a cell)")
    parser.add_argument("--seed", type=int, default=0, help="the study's seed (its bootstrap resamples)")
    parser.add_argument("--unclean", nargs="*", default=[], help="cells whose seconds were measured while other work "
                        "shared the machine: marked *, and left out of every comparison by seconds")
    parser.add_argument("--pair", nargs="+", default=[], metavar="CELL=REFERENCE",
                        help="cells compared with named cells on the same searches (a table of their own)")
    parser.add_argument("--level", type=float, default=uncertainty.LEVEL,
                        help="the intervals' confidence level (e.g. 0.9875 for a 95%% claim checked at four looks, "
                        "Bonferroni); the tables' headers still say 95%%, a first line says which level they hold")
    args = parser.parse_args()
    if not 0 < args.level < 1:
        parser.error(f"--level {args.level}: give a confidence level between 0 and 1")
    if args.level != uncertainty.LEVEL:
        uncertainty.LEVEL = args.level
        print(f"Every interval below is a {100 * args.level:g}% interval (--level), whatever its header says.\n")
    rows = json.loads((args.study / "results.json").read_text())
    unclean = frozenset(args.unclean)
    print(cells_table(rows, unclean), end="\n\n")
    print(categories_table(rows), end="\n\n")
    if args.target:
        print(target_table(rows, args.target, args.seed, unclean=unclean), end="\n\n")
        print(target_table(rows, args.target, args.seed, 0.5, "seconds", unclean), end="\n\n")
    print(seconds_table(rows, args.seed, unclean), end="\n\n")
    if args.pair:
        print(pairs_table(rows, args.pair, args.seed), end="\n\n")
    reruns = [json.loads((folder / "results.json").read_text()) for folder in args.rerun]
    for rerun in reruns:
        print(rerun_table(rows, rerun, args.seed, args.target), end="\n\n")
    if len(reruns) > 1:
        print(pooled_table([rows, *reruns], args.seed))


if __name__ == "__main__":
    main()
