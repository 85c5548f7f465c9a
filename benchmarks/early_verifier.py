"""The shapes early verifier (#27, part 3): distilled from shapes-clip on prompts of the shapes grammar, its Kendall
tau with the final shapes-clip score measured per level on the study's 24 prompts, held out, beside the x0-preview's.

    python benchmarks/early_verifier.py --out outputs/early-shapes                       # the CPU run in docs
    python benchmarks/early_verifier.py --per-category 40 --per-condition 64 --device cuda --out outputs/early

It writes the training prompts (``prompt_set`` of the shapes world, the study's prompts left out) and runs
``noisesearch distill --held_out_file configs/bench/shapes-prompts.txt``; the table it prints is the card's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from noisesearch.cli import main as noisesearch

STUDY_PROMPTS = Path(__file__).resolve().parents[1] / "configs" / "bench" / "shapes-prompts.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--per-category", type=int, default=16, help="training prompts per caption category")
    parser.add_argument("--per-condition", type=int, default=24, help="trajectories per prompt")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from noisesearch_plugins.shapes.captions import prompt_set

    study = set(STUDY_PROMPTS.read_text().split("\n"))
    prompts = list(dict.fromkeys(c.text for c in prompt_set(args.per_category, seed=11) if c.text not in study))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train-prompts.txt").write_text("\n".join(prompts) + "\n")
    print(f"{len(prompts)} training prompts, {args.per_condition} trajectories each; held out: the study's prompts")
    noisesearch(["distill", "--pipeline", "shapes", "--prompts_file", str(out / "train-prompts.txt"),
                 "--held_out_file", str(STUDY_PROMPTS), "--per_condition", str(args.per_condition),
                 "--epochs", str(args.epochs), "--device", args.device, "--out", str(out / "early")])


if __name__ == "__main__":
    main()
