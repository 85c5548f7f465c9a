"""The early verifiers of the embedded worlds (#27, part 3), each table printed is the card's: Kendall tau with the
teacher's final score per level, held out, beside the x0-preview's.

shapes: distilled from shapes-clip on prompts of the shapes grammar, measured on the study's 24 prompts, held out
(``noisesearch distill --held_out_file configs/bench/shapes-prompts.txt``). digits: distilled from digits-classifier
on the ten classes, measured on seeds it never saw of the same classes (``--held_out_trajectories``), since a
digits search asks for the classes it trained on.

    python benchmarks/early_verifier.py --out outputs/early-shapes                       # the CPU runs in docs
    python benchmarks/early_verifier.py --world digits --out outputs/early-digits
    python benchmarks/early_verifier.py --per-category 40 --per-condition 64 --device cuda --out outputs/early
"""

from __future__ import annotations

import argparse
from pathlib import Path

from noisesearch.cli import main as noisesearch

STUDY_PROMPTS = Path(__file__).resolve().parents[1] / "configs" / "bench" / "shapes-prompts.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--world", choices=["shapes", "digits"], default="shapes")
    parser.add_argument("--per-category", type=int, default=16, help="training prompts per caption category")
    parser.add_argument("--per-condition", type=int, default=None,
                        help="trajectories per condition (default: 24 for shapes, 128 for digits)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    out = Path(args.out)
    common = ["--epochs", str(args.epochs), "--device", args.device, "--out", str(out / "early")]
    if args.world == "digits":
        per_condition = args.per_condition or 128
        print(f"10 classes, {per_condition} trajectories each; held out: the last quarter of each class's seeds")
        noisesearch(["distill", "--pipeline", "digits", "--classes", "0-9", "--per_condition", str(per_condition),
                     "--held_out_trajectories", "0.25", *common])
        return
    from noisesearch_plugins.shapes.captions import prompt_set

    study = set(STUDY_PROMPTS.read_text().split("\n"))
    prompts = list(dict.fromkeys(c.text for c in prompt_set(args.per_category, seed=11) if c.text not in study))
    out.mkdir(parents=True, exist_ok=True)
    (out / "train-prompts.txt").write_text("\n".join(prompts) + "\n")
    per_condition = args.per_condition or 24
    print(f"{len(prompts)} training prompts, {per_condition} trajectories each; held out: the study's prompts")
    noisesearch(["distill", "--pipeline", "shapes", "--prompts_file", str(out / "train-prompts.txt"),
                 "--held_out_file", str(STUDY_PROMPTS), "--per_condition", str(per_condition), *common])


if __name__ == "__main__":
    main()
