"""A student that reuses the teacher's towers (#27, part 3: the idea docs/verifiers.md left untried): the teacher's
image tower, fine-tuned per level to map a candidate's x0-preview there to the teacher's image embedding of the
final sample, scored against the teacher's own text embedding, so prompts the student never saw are read by the
teacher. It prints, per level, the held-out within-prompt Kendall tau with the final shapes-clip score, beside the
plain preview's.

    python benchmarks/tower_student.py --cache outputs/tower-cache --levels 0 1 2 3 4 5 6   # docs/verifiers.md
    python benchmarks/tower_student.py --cache outputs/tower-cache --held-out 96 --levels 2 3 4 --simulate 24

The second also simulates one-rung halving on the held-out solves (24 noises to a level, the best 3 there by the
student's or the preview's score finished) against best-of-n, in shapes-eval accuracy.

Training trajectories: prompts of the shapes grammar with the study's left out (as benchmarks/early_verifier.py),
``--per-condition`` seeded solves each; held out: the study's 24 prompts x 24 solves. Loss: 1 - cosine of the
student's embedding of the preview with the teacher's embedding of the final image.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

STUDY_PROMPTS = Path(__file__).resolve().parents[1] / "configs" / "bench" / "shapes-prompts.txt"


def solve(pipeline, teacher, conditions, per_condition, run, seed):
    """What the student learns from and is measured on: every level's decoded x0-preview, the teacher's final score,
    its score of each preview, the condition index, the levels."""
    from noisesearch.distill.trajectories import collect

    data = collect(pipeline, teacher, conditions, per_condition, run, seed=seed, batch=128)
    with torch.no_grad():
        images = torch.stack([pipeline.decode_preview(data.x0[:, k]).float().clamp(0, 1)
                              for k in range(len(data.sigmas))], dim=1)
    return {"images": images, "final": data.final, "previews": data.previews, "group": data.group,
            "sigmas": data.sigmas}


def cached(path, make):
    """``make()``'s tensors, kept in a safetensors file between runs of this probe."""
    from safetensors.torch import load_file, save_file

    if path is not None and Path(path).is_file():
        return load_file(path)
    tensors = {key: value.contiguous() for key, value in make().items()}
    if path is not None:
        save_file(tensors, path)
    return tensors


def rows_of(data, mask):
    """The solves ``mask`` selects (``sigmas`` kept whole)."""
    return {key: value if key == "sigmas" else value[mask] for key, value in data.items()}


def fit_level(clip, previews, final_embeddings, epochs, lr, seed, batch=128):
    """A copy of the teacher's image tower trained on one level's previews (its other weights shared, frozen)."""
    torch.manual_seed(seed)
    student = copy.deepcopy(clip)
    student.model.requires_grad_(False)
    student.model.visual.requires_grad_(True)
    optimizer = torch.optim.AdamW(student.model.visual.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(previews), generator=generator)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            predicted = student.image_features(previews[rows])
            loss = (1 - (predicted * final_embeddings[rows]).sum(dim=-1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    student.model.requires_grad_(False)
    return student.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-category", type=int, default=32, help="training prompts per caption category")
    parser.add_argument("--per-condition", type=int, default=32, help="training trajectories per prompt")
    parser.add_argument("--held-out", type=int, default=24, help="solves per study prompt")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--shared", action="store_true", help="one tower for all the levels given")
    parser.add_argument("--validate", action="store_true",
                        help="measure on the last fifth of the training prompts (for tuning), not the study's")
    parser.add_argument("--cache", help="a folder keeping the trajectories between runs")
    parser.add_argument("--simulate", type=int, metavar="N",
                        help="also simulate one-rung halving among N noises a search on the held-out solves, pruning "
                             "at each level given by the student or by the preview, against best-of-n")
    args = parser.parse_args()
    from noisesearch.bench.health import mean_kendall
    from noisesearch.conditions import Condition
    from noisesearch_plugins.shapes.captions import prompt_set

    from lookahead import load_world  # this folder's: benchmarks/ is on the path when the script runs

    pipeline, teacher, run = load_world("shapes", "shapes-clip")
    study = [line for line in STUDY_PROMPTS.read_text().split("\n") if line]
    training = list(dict.fromkeys(c.text for c in prompt_set(args.per_category, seed=11) if c.text not in set(study)))
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    train = cached(cache / "train.safetensors" if cache else None, lambda: solve(
        pipeline, teacher, [Condition(prompt=p) for p in training], args.per_condition, run, seed=1))
    if args.validate:  # tune on the last fifth of the training prompts; the study's prompts stay unseen
        cut = int(0.8 * len(training))
        held, train = rows_of(train, train["group"] >= cut), rows_of(train, train["group"] < cut)
        texts = training
        print(f"validation: {cut} training prompts, {len(training) - cut} validation prompts x {args.per_condition}")
    else:
        held = cached(cache / f"held-{args.held_out}.safetensors" if cache else None, lambda: solve(
            pipeline, teacher, [Condition(prompt=p) for p in study], args.held_out, run, seed=2))
        texts = study
        print(f"{len(training)} training prompts x {args.per_condition} solves; held out: the study's {len(study)} "
              f"prompts x {args.held_out}")
    clip = teacher.clip
    with torch.no_grad():
        # the sampler's last step, to level 0, lands on the x0-prediction of the last level: the final image
        train_final = clip.image_features(train["images"][:, -1])
        held_texts = clip.text_features([texts[int(g)] for g in held["group"]])

    def within(values):
        return [(values[held["group"] == g].tolist(), held["final"][held["group"] == g].tolist())
                for g in held["group"].unique()]

    print(f"epochs {args.epochs}, lr {args.lr}, {'one tower for all levels' if args.shared else 'a tower per level'}")
    print("| after step | sigma | plain preview tau | tower student tau | student's cosine with the final embedding "
          "(train) |")
    print("|---|---|---|---|---|")
    student_scores = {}
    if args.shared:
        inputs = torch.cat([train["images"][:, k] for k in args.levels])
        shared = fit_level(clip, inputs, train_final.repeat(len(args.levels), 1), args.epochs, args.lr, seed=0)
    for k in args.levels:
        student = shared if args.shared else fit_level(clip, train["images"][:, k], train_final, args.epochs,
                                                       args.lr, seed=k)
        with torch.no_grad():
            scores = 100 * (student.image_features(held["images"][:, k]) * held_texts).sum(dim=-1)
            fitted = (student.image_features(train["images"][:, k]) * train_final).sum(dim=-1).mean()
        print(f"| {k} | {float(held['sigmas'][k]):.3g} | {mean_kendall(within(held['previews'][:, k])):+.3f} | "
              f"{mean_kendall(within(scores)):+.3f} | {float(fitted):.3f} |", flush=True)
        student_scores[k] = scores
    if args.simulate:
        if run.sampler != "heun":
            raise SystemExit(f"--simulate counts Heun's NFEs; the run's sampler is {run.sampler}")
        simulate(held, student_scores, texts, args.simulate, pipeline.nfe_per_call(run.guidance))


def simulate(held, student_scores, texts, noises, nfe_per_call, keep=3, draws=400, seed=0):
    """Expected shapes-eval accuracy of one-rung halving (``noises`` candidates to level k, the best ``keep`` by a
    score there finished, the best finished by the teacher returned) and of best-of-n at about the same NFEs, over
    random draws of each prompt's held-out solves; 95% intervals and paired differences by resampling prompts."""
    import numpy as np

    from noisesearch.conditions import Condition
    from noisesearch_plugins.shapes.evaluation import ShapesEvaluation

    group = held["group"]
    correct = torch.tensor([bool(ok) for _, ok in ShapesEvaluation().judge(
        held["images"][:, -1], [Condition(prompt=texts[int(g)]) for g in group])], dtype=torch.float64)
    final = held["final"].double()
    full = nfe_per_call * (2 * len(held["sigmas"]) - 1)  # Heun: 2 calls a step, 1 on the last (to level 0)

    def cost(k):  # NFEs by a level's x0-preview: Heun's calls up to that level's first
        return nfe_per_call * (2 * k + 1)

    plans = {f"best of {n}": ("random", n, None) for n in (12, 13, 16, 24, 32)}
    for k, scores in student_scores.items():
        plans[f"halving at step {k}, student"] = ("halving", k, scores.double())
        plans[f"halving at step {k}, preview"] = ("halving", k, held["previews"][:, k].double())
    nfes = {name: n * full if kind == "random" else noises * cost(n) + keep * (full - cost(n))
            for name, (kind, n, _) in plans.items()}
    generator = torch.Generator().manual_seed(seed)
    prompts = group.unique()
    expected = {name: np.zeros(len(prompts)) for name in plans}
    for p, g in enumerate(prompts):
        rows = torch.nonzero(group == g).squeeze(1)
        for _ in range(draws):
            drawn = rows[torch.randperm(len(rows), generator=generator)[:max(noises, 32)]]
            for name, (kind, n, scores) in plans.items():
                if kind == "random":
                    pool = drawn[:n]
                else:
                    searched = drawn[:noises]
                    pool = searched[scores[searched].topk(keep).indices]
                expected[name][p] += float(correct[pool[final[pool].argmax()]]) / draws
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(prompts), size=(2000, len(prompts)))
    reference = "best of 32"
    print(f"\nsimulated searches: {noises} solves drawn {draws} times per prompt from its {int((group == prompts[0]).sum())}, "
          f"{len(prompts)} prompts; intervals resample prompts")
    print(f"| plan | NFEs | accuracy [95%] | minus {reference} [95% paired] | student minus preview [95% paired] |")
    print("|---|---|---|---|---|")

    def paired(name, other):
        difference = expected[name] - expected[other]
        low, high = np.percentile(difference[picks].mean(axis=1), [2.5, 97.5])
        return f"{difference.mean():+.3f} [{low:+.3f}, {high:+.3f}]"

    for name in sorted(plans, key=lambda name: (nfes[name], name)):
        values = expected[name]
        low, high = np.percentile(values[picks].mean(axis=1), [2.5, 97.5])
        against = paired(name, name.replace("student", "preview")) if name.endswith("student") else ""
        print(f"| {name} | {nfes[name]} | {values.mean():.3f} [{low:.3f}, {high:.3f}] | {paired(name, reference)} | "
              f"{against} |")


if __name__ == "__main__":
    main()
