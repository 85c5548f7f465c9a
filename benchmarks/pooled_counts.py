"""Pool a paired accuracy comparison over studies when some survive only as verdict counts (paper §4's paired claims).

The paired bootstrap of a mean of per-search verdict differences depends only on how many searches the cell alone got
right and how many the reference alone did, and so does the exact McNemar test: a study whose results.json is gone
enters as those two counts and its number of searches (``--counts``), a study at hand is read (``--study``). Each
group and the pool print the difference, its paired bootstrap interval at ``--level`` and McNemar's exact p.
Accuracy here is the plain mean of the verdicts; the bench's is the mean of the category accuracies, equal on the
full sample of a balanced study but resampled differently, so its interval can differ by about 0.002 at 192 searches.

    python benchmarks/pooled_counts.py --counts 20 23 576 --study outputs/shapes-target-seed3 \
        --cell halving-eta8--shapes-clip--480nfe --reference random--shapes-clip--960nfe
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from noisesearch.bench.runner import uncertainty


def differences_from_counts(only_cell: int, only_reference: int, searches: int) -> np.ndarray:
    """Per-search verdict differences (+1, -1, 0) with the given counts; their order does not change the bootstrap."""
    return np.concatenate([np.ones(only_cell), -np.ones(only_reference),
                           np.zeros(searches - only_cell - only_reference)])


def fail(message: str) -> None:
    """One line naming the problem and the fix, exit code 2."""
    print(f"pooled_counts.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def differences_from_study(study: Path, cell: str, reference: str) -> np.ndarray:
    """Per-search verdict differences of two cells of a bench study, in the study's order (unjudged searches dropped)."""
    if not (study / "results.json").is_file():
        fail(f"{study}: no results.json; give a finished bench study's --out folder")
    rows = {row["cell"]: row for row in json.loads((study / "results.json").read_text())}
    missing = [name for name in (cell, reference) if name not in rows]
    if missing:
        fail(f"{study}: no cell {', '.join(missing)}; its cells are {', '.join(rows)}")
    mine, theirs = rows[cell]["per_search"], rows[reference]["per_search"]
    if mine["key"] != theirs["key"]:
        fail(f"{study}: {cell} and {reference} hold different searches; they cannot be paired")
    return np.asarray([float(bool(a)) - float(bool(b)) for a, b in zip(mine["correct"], theirs["correct"])
                       if a is not None and b is not None])


def summary(differences: np.ndarray, seed: int) -> str:
    """The mean difference, its paired bootstrap interval and McNemar's exact p, as study_tables prints them."""
    replicates = differences[uncertainty.resamples(len(differences), seed)].mean(axis=1)
    tail = 100 * (1 - uncertainty.LEVEL) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    only_cell, only_reference = int((differences > 0).sum()), int((differences < 0).sum())
    p = binomtest(only_cell, only_cell + only_reference, 0.5).pvalue if only_cell + only_reference else 1.0
    return (f"{differences.mean():+.4f} [{low:+.4f}, {high:+.4f}], McNemar p {p:.3g} "
            f"({only_cell} searches only the cell got right, {only_reference} only the reference, "
            f"{len(differences)} searches)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs=3, type=int, action="append", default=[],
                        metavar=("ONLY_CELL", "ONLY_REFERENCE", "SEARCHES"),
                        help="a study known only by its counts (repeatable)")
    parser.add_argument("--study", type=Path, action="append", default=[], help="a bench study's folder (repeatable)")
    parser.add_argument("--cell", help="the cell's name in every --study")
    parser.add_argument("--reference", help="the reference cell's name in every --study")
    parser.add_argument("--level", type=float, default=uncertainty.LEVEL, help="the intervals' confidence level")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    args = parser.parse_args()
    if not 0 < args.level < 1:
        parser.error(f"--level {args.level}: give a confidence level between 0 and 1")
    if args.study and not (args.cell and args.reference):
        parser.error("--study needs --cell and --reference: the two cells to pair")
    for only_cell, only_reference, searches in args.counts:
        if min(only_cell, only_reference) < 0 or only_cell + only_reference > searches:
            parser.error(f"--counts {only_cell} {only_reference} {searches}: the two counts must be non-negative "
                         "and sum to at most the searches")
    if not args.counts and not args.study:
        parser.error("give at least one --counts or --study")
    uncertainty.LEVEL = args.level
    groups = [(f"counts {c} {r} {n}", differences_from_counts(c, r, n)) for c, r, n in args.counts]
    groups += [(str(study), differences_from_study(study, args.cell, args.reference)) for study in args.study]
    print(f"{100 * args.level:g}% intervals")
    for name, differences in groups:
        print(f"{name}: {summary(differences, args.seed)}")
    if len(groups) > 1:
        print(f"pooled: {summary(np.concatenate([d for _, d in groups]), args.seed)}")


if __name__ == "__main__":
    main()
