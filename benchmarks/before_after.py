"""Every built-in algorithm on digits and shapes, fingerprinted: each search's choice, NFEs, candidates, scores,
image and noise bytes, and every journal line (hashed). Run it on two commits and compare the two files: a change
that must not change results (#39, the engine's seams) leaves them equal.

    python benchmarks/before_after.py --out outputs/after.json
    python benchmarks/before_after.py --compare outputs/before.json outputs/after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

CASES = {  # algorithm: (args, digits budget, shapes budget)
    "none": ({}, 7, 30),
    "random": ({}, 56, 120),
    "zero-order": ({"n": 2}, 112, 240),
    "paths": ({"n": 2, "m": 2}, 112, 360),
    "smc": ({}, 56, 240),
    "beam": ({"width": 2, "branch": 2}, 112, 240),
    "evolution": ({"population": 4, "elites": 1}, 112, 240),
    "halving": ({}, 28, 240),
    "gradient": ({}, 56, None),
}
WORLDS = {"digits": {"classes": [3, 7]}, "shapes": {"prompts": ["a red circle", "two blue squares"]}}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprint(folder: Path, results) -> dict:
    """What a run decided and journaled, hashed where it is bytes."""
    lines = [json.loads(line) for path in sorted((folder / "journal").glob("rank*.jsonl"))
             for line in path.read_text().splitlines()]
    for line in lines:
        line.get("record", {}).pop("seconds", None)  # wall clock: never equal between two runs
    return {
        "results": [{"candidate": r.candidate, "nfe": r.nfe, "candidates": r.candidates, "score": repr(r.score),
                     "scores": {k: repr(v) for k, v in sorted(r.scores.items())},
                     "image": digest(r.image.numpy().tobytes()), "noise": digest(r.noise.numpy().tobytes())}
                    for r in results],
        "journal": digest(json.dumps(lines, sort_keys=True).encode()),
        "images": {p.name: digest(p.read_bytes()) for p in sorted((folder / "images").glob("*.png"))},
    }


def run_all(worlds: list[str]) -> dict:
    import noisesearch

    found = {}
    for world in worlds:
        for algorithm, (args, digits_budget, shapes_budget) in CASES.items():
            budget = digits_budget if world == "digits" else shapes_budget
            if budget is None:
                continue
            with tempfile.TemporaryDirectory() as folder:
                results = noisesearch.search(**WORLDS[world], pipeline=world, algorithm=algorithm,
                                             algorithm_args=args, budget_nfe=budget, out=Path(folder) / "run",
                                             batch_size=8)
                found[f"{world}/{algorithm}"] = fingerprint(Path(folder) / "run", results)
            print(world, algorithm, "done", flush=True)
    return found


def compare(before: Path, after: Path) -> int:
    old, new = json.loads(before.read_text()), json.loads(after.read_text())
    differ = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    for key in differ:
        print(f"differs: {key}")
    print(f"{len(old)} cases before, {len(new)} after, {len(differ)} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS))
    parser.add_argument("--compare", nargs=2, type=Path)
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    found = run_all(args.worlds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
