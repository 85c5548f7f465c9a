"""Drafts (issue #14's first idea): does a few-step solve of a noise predict its full solve well enough to pick which
noises to finish? Measured on a finished random-search cell of the shapes study, over the same noises.

For every search of the cell, its first ``--candidates`` noises (rebuilt from the run's seed, exactly as the
journal records them) are solved with ``d`` Heun steps (the draft), scored by shapes-clip; the best ``m`` drafts
are solved again with the cell's full schedule (the finish), and the best finished sample by shapes-clip is the
search's answer. Cost per search: candidates x NFE(d steps) + m x NFE(full solve). The answers are judged by
shapes-eval and paired with the cell's own answers (random search's best of all its candidates) on the same searches.
Also printed: Kendall tau between draft and full-solve scores within a search (the full-solve scores are the
journal's), and how often the draft's favourite is the full solve's favourite.

    python benchmarks/drafts.py outputs/shapes-study/cells/random--shapes-clip--960nfe --drafts 1 2 --finish 1 2 4

Nothing here is a search algorithm of the engine: the engine has no per-proposal step counts yet (docs/shapes.md).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from noisesearch.bench.runner import uncertainty
from noisesearch.conditions import Condition
from noisesearch.bench.health import mean_kendall
from noisesearch.store.journal import read_run
from noisesearch.noise import NoiseSpec
from noisesearch.store.folder import RunDir
from noisesearch.sampling.samplers import sampler_class
from noisesearch.pipeline import RunSpec
from noisesearch_plugins.shapes.evaluation import ShapesEvaluation
from noisesearch_plugins.shapes.pipeline import ShapesFamily, ShapesPipeline
from noisesearch_plugins.shapes.verifier import ShapesCLIPVerifier


def full_solves(folder: Path) -> dict[tuple[str, int], dict[int, dict]]:
    """The journal's finished candidates of each search (condition key, repeat), by candidate id."""
    candidates, _ = read_run(RunDir(folder).journal_dir)
    by_search: dict[tuple[str, int], dict[int, dict]] = {}
    for (search, repeat, candidate), record in candidates.items():
        if record.level == 0.0:
            by_search.setdefault((search, repeat), {})[candidate] = record
    return by_search


def noise_of(record) -> NoiseSpec:
    return NoiseSpec.from_dict(record.noise)


class Solver:
    """Batched Heun solves of the shapes model at any step count, with CFG, as the engine's plan runs them."""

    def __init__(self, pipeline: ShapesPipeline, guidance: float, sampler: str, batch: int):
        self.pipeline, self.guidance, self.sampler, self.batch = pipeline, guidance, sampler, batch
        self.shape = pipeline.latent_shape(pipeline.default_height, pipeline.default_width)
        self.nfe_per_call = pipeline.nfe_per_call(guidance)

    def nfe(self, steps: int) -> int:
        return sampler_class(self.sampler).solve_calls(steps) * self.nfe_per_call

    @torch.no_grad()
    def images(self, noises: list[NoiseSpec], conditions: list[Condition], steps: int) -> torch.Tensor:
        sigmas = self.pipeline.sigmas(steps)
        out = []
        for start in range(0, len(noises), self.batch):
            chunk = slice(start, start + self.batch)
            x = torch.stack([n.build(self.shape) for n in noises[chunk]])
            encoded = self.pipeline.encode(conditions[chunk])

            x = sampler_class(self.sampler)(self.pipeline.frame).solve(
                self.pipeline.denoise, self.pipeline.initial_latents(x, sigmas), sigmas, encoded)
            out.append(self.pipeline.decode(x).float().clamp(0, 1))
        return torch.cat(out)


def accuracy(per_search: dict, seed: int) -> tuple[float, list[float]]:
    """shapes-eval accuracy (the mean of category accuracies, as the bench reports it) and its 95% interval."""
    arrays = uncertainty.prepared(per_search)
    value = uncertainty.metric_value("accuracy", arrays, np.arange(len(per_search["key"])))
    return value, uncertainty.intervals(per_search, seed)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cell", type=Path, help="a finished shapes random-search cell (its journal and images)")
    parser.add_argument("--drafts", type=int, nargs="+", default=[1, 2], help="draft step counts")
    parser.add_argument("--finish", type=int, nargs="+", default=[1, 2, 4], help="drafts finished per search")
    parser.add_argument("--candidates", type=int, default=32, help="noises drafted per search")
    parser.add_argument("--searches", type=int, help="only the first N searches (a quick look)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)

    own, conditions, summary = RunDir(args.cell).load_images()  # the cell's own answers and its settings
    journal = full_solves(args.cell)
    model = summary.header.model
    steps, guidance, sampler = model.steps, model.guidance, model.sampler
    if model.pipeline != "shapes" or model.algorithm != "random":
        raise SystemExit(f"drafts: {args.cell} is a {model.algorithm} cell on {model.pipeline}; "
                         "give a random-search cell of a shapes study")
    pipeline = ShapesFamily().load(None)
    pipeline.configure(RunSpec(steps, guidance, pipeline.default_height, pipeline.default_width, sampler))
    solver = Solver(pipeline, guidance, sampler, args.batch)
    verifier, evaluation = ShapesCLIPVerifier(), ShapesEvaluation()

    results, own, conditions = summary.results[: args.searches], own[: args.searches], conditions[: args.searches]
    searches = [(condition.key, r.repeat) for condition, r in zip(conditions, results)]
    ids = list(range(args.candidates))
    for key in searches:
        missing = set(ids) - set(journal[key])
        if missing:
            raise SystemExit(f"drafts: the cell's search {key} lacks finished candidates {sorted(missing)[:4]}; "
                             f"give --candidates at most its samples per search")
    full_scores = np.array([[journal[key][i].scores["shapes-clip"] for i in ids] for key in searches])

    judged = evaluation.judge(own, conditions)
    keys = [f"{key}#{repeat}" for key, repeat in searches]
    categories = [category for category, _ in judged]
    own_search = {"key": keys, "category": categories, "correct": [c for _, c in judged]}
    seed = summary.header.seed
    value, (lo, hi) = accuracy(own_search, seed)
    cell_nfe = results[0].nfe
    print(f"cell: {args.cell.name}, {len(searches)} searches, {cell_nfe} NFEs a search, full solve "
          f"{solver.nfe(steps)} NFEs; shapes-eval accuracy {value:.3f} [{lo:.3f}, {hi:.3f}]")

    flat_noises = [noise_of(journal[key][i]) for key in searches for i in ids]
    flat_conditions = [c for c in conditions for _ in ids]
    finished: dict[tuple[int, int], tuple[float, bool]] = {}  # (search, id) -> full solve's score and verdict
    figures = {"cell": str(args.cell), "searches": len(searches), "cell_nfe": cell_nfe,
               "cell_accuracy": [value, lo, hi], "cell_per_search": own_search, "rows": []}
    print("| draft steps | finished | NFEs a search | accuracy [95%] | minus the cell [95% paired], McNemar p |"
          " draft-full tau | draft's favourite is full's |")
    print("|---|---|---|---|---|---|---|")
    for draft_steps in args.drafts:
        started = time.perf_counter()
        images = solver.images(flat_noises, flat_conditions, draft_steps)
        draft = verifier.score(images, flat_conditions).float().numpy().reshape(len(searches), len(ids))
        draft_seconds = time.perf_counter() - started
        tau = mean_kendall([(draft[s].tolist(), full_scores[s].tolist()) for s in range(len(searches))])
        agree = float(np.mean(draft.argmax(1) == full_scores.argmax(1)))
        order = np.argsort(-draft, axis=1, kind="stable")
        for m in args.finish:
            todo = sorted({(s, int(order[s, j])) for s in range(len(searches)) for j in range(m)} - set(finished))
            if todo:
                made = solver.images([noise_of(journal[searches[s]][i]) for s, i in todo],
                                     [conditions[s] for s, _ in todo], steps)
                scores = verifier.score(made, [conditions[s] for s, _ in todo]).float().numpy()
                verdicts = evaluation.judge(made, [conditions[s] for s, _ in todo])
                for (s, i), score, (_, correct) in zip(todo, scores, verdicts):
                    drift = abs(float(score) - journal[searches[s]][i].scores["shapes-clip"])
                    assert drift < 1e-2, f"the rebuilt full solve of {searches[s]} #{i} differs by {drift}"
                    finished[(s, i)] = (float(score), bool(correct))
            answers = [max((finished[(s, int(order[s, j]))] for j in range(m)), key=lambda f: f[0])
                       for s in range(len(searches))]
            mine = {"key": keys, "category": categories, "correct": [c for _, c in answers]}
            nfe = len(ids) * solver.nfe(draft_steps) + m * solver.nfe(steps)
            value, (lo, hi) = accuracy(mine, seed)
            (against,) = [p for p in uncertainty.paired(mine, own_search, seed) if p["metric"] == "accuracy"]
            (dlo, dhi), p = against["interval"], against["p_value"]
            row = {"draft_steps": draft_steps, "finished": m, "nfe": nfe, "accuracy": [value, lo, hi],
                   "minus_cell": [against["difference"], dlo, dhi], "mcnemar_p": p,
                   "tau": tau, "favourite_agrees": agree, "draft_seconds": draft_seconds,
                   "per_search": mine}
            figures["rows"].append(row)
            print(f"| {draft_steps} | {m} | {nfe} | {value:.3f} [{lo:.3f}, {hi:.3f}] | "
                  f"{against['difference']:+.3f} [{dlo:+.3f}, {dhi:+.3f}], p {p:.3g} | {tau:+.2f} | "
                  f"{agree:.2f} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
