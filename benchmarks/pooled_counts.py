"""Pool a paired accuracy comparison over studies when some survive only as verdict counts (paper §4's paired claims).

The paired bootstrap of a mean of per-search verdict differences depends only on how many searches the cell alone got
right and how many the reference alone did, and so does the exact McNemar test: a study whose results.json is gone
enters as those two counts and its number of searches (``--counts``), a study at hand is read (``--study``). Each
group and the pool print the difference, its paired bootstrap interval at ``--level`` and McNemar's exact p.
Both come from the bench's own `uncertainty.paired`, given verdicts without categories, so accuracy here is the
plain mean of the verdicts; the bench's is the mean of the category accuracies, equal on the full sample of a balanced
study but resampled differently, so its interval can differ by about 0.002 at 192 searches.

    python benchmarks/pooled_counts.py --counts 20 23 576 --study outputs/shapes-target-seed3 \
        --cell halving-eta8--shapes-clip--480nfe --reference random--shapes-clip--960nfe
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from noisesearch.bench.runner import uncertainty


def verdicts_from_counts(only_cell: int, only_reference: int, searches: int) -> tuple[dict, dict]:
    """Per-search verdicts of a cell and its reference with the given counts (the searches both got right or both
    got wrong enter as right for both; neither the difference nor its bootstrap nor McNemar tells them apart)."""
    both = searches - only_cell - only_reference
    cell = [True] * only_cell + [False] * only_reference + [True] * both
    reference = [False] * only_cell + [True] * only_reference + [True] * both
    return {"correct": cell}, {"correct": reference}


def fail(message: str) -> None:
    """One line naming the problem and the fix, exit code 2."""
    print(f"pooled_counts.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def verdicts_from_study(study: Path, cell: str, reference: str) -> tuple[dict, dict]:
    """Per-search verdicts of two cells of a bench study, in the study's order (categories left out: plain mean)."""
    if not (study / "results.json").is_file():
        fail(f"{study}: no results.json; give a finished bench study's --out folder")
    rows = {row["cell"]: row for row in json.loads((study / "results.json").read_text())}
    missing = [name for name in (cell, reference) if name not in rows]
    if missing:
        fail(f"{study}: no cell {', '.join(missing)}; its cells are {', '.join(rows)}")
    mine, theirs = rows[cell]["per_search"], rows[reference]["per_search"]
    if mine["key"] != theirs["key"]:
        fail(f"{study}: {cell} and {reference} hold different searches; they cannot be paired")
    return {"correct": mine["correct"]}, {"correct": theirs["correct"]}


def summary(cell: dict, reference: dict, seed: int) -> str:
    """uncertainty.paired's accuracy entry (difference, paired bootstrap interval, McNemar's exact p), one line."""
    keyed = [{"key": list(range(len(v["correct"]))), **v} for v in (cell, reference)]
    (entry,) = [m for m in uncertainty.paired(*keyed, seed) if m["metric"] == "accuracy"]
    low, high = entry["interval"]
    only_cell = sum(bool(a) and b is not None and not b for a, b in zip(cell["correct"], reference["correct"]))
    only_reference = sum(bool(b) and a is not None and not a for a, b in zip(cell["correct"], reference["correct"]))
    return (f"{entry['difference']:+.4f} [{low:+.4f}, {high:+.4f}], McNemar p {entry['p_value']:.3g} "
            f"({only_cell} searches only the cell got right, {only_reference} only the reference, "
            f"{len(cell['correct'])} searches)")


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
    groups = [(f"counts {c} {r} {n}", verdicts_from_counts(c, r, n)) for c, r, n in args.counts]
    groups += [(str(study), verdicts_from_study(study, args.cell, args.reference)) for study in args.study]
    print(f"{100 * args.level:g}% intervals")
    for name, (cell, reference) in groups:
        print(f"{name}: {summary(cell, reference, args.seed)}")
    if len(groups) > 1:
        print("pooled: " + summary(*({"correct": [v for _, pair in groups for v in pair[side]["correct"]]}
                                     for side in (0, 1)), args.seed))


if __name__ == "__main__":
    main()
