"""Lookahead previews (#27, part 5: an idea for a signal before the middle step): how well a preview made with a few
more Euler calls along the run's own levels ranks the final samples, against the plain x0-preview at equal NFEs.

    python benchmarks/lookahead.py                       # the CPU run in docs/verifiers.md (24 prompts x 24 noises)

Every noise of every study prompt is solved with the world's sampler (shapes: 8 Heun steps, guidance 2); at each
level j the state it reached is previewed three ways: the plain x0-preview (what halving, beam and SMC score), and
with m - 1 more denoiser calls, Euler steps from level j along the run's next levels, the x0-prediction of the last
one taken as the preview (m = 2 is the x0 Heun's corrector computes anyway when the run steps on). It prints, per
level and m, the NFEs a candidate has cost by then (counted by a wrapped denoiser) and the within-prompt Kendall tau of
the teacher's score of the preview with the teacher's score of the final sample.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

STUDY_PROMPTS = Path(__file__).resolve().parents[1] / "configs" / "bench" / "shapes-prompts.txt"


class CallCounter:
    """A denoiser that counts its calls; as a solve's step callback, it keeps each step's state, prediction and the
    calls made by then."""

    def __init__(self, pipeline):
        self.pipeline, self.calls, self.seen = pipeline, 0, {}

    def __call__(self, x, sigma, cond):
        self.calls += 1
        return self.pipeline.denoise(x, sigma, cond)

    def step(self, step) -> None:
        self.seen[step.i] = (step.x, step.x0, self.calls)


def load_world(pipeline_name: str, teacher_spec: str):
    """The loaded pipeline, its teacher verifier and the run at the pipeline's defaults."""
    from noisesearch.pipeline import RunSpec
    from noisesearch.resolve import resolve_pipeline, resolve_verifiers

    family, source = resolve_pipeline(pipeline_name)
    ((teacher_cls, argument),) = resolve_verifiers([teacher_spec], family.condition_kind)
    pipeline = family.load(source).eval()
    teacher = teacher_cls(argument)
    teacher.attach(family)
    teacher.eval()
    run = RunSpec(family.default_steps, family.default_guidance, family.default_height, family.default_width,
                  family.default_sampler)
    return pipeline, teacher, run


@torch.no_grad()
def measure(pipeline_name: str, teacher_spec: str, prompts: Path, per_condition: int, seed: int, extra: list[int],
            batch: int) -> dict:
    from noisesearch.bench.health import mean_kendall
    from noisesearch.noise import NoiseSpec, derive_seed
    from noisesearch.run.tasks import conditions_of
    from noisesearch.sampling.samplers import sampler_class

    pipeline, teacher, run = load_world(pipeline_name, teacher_spec)
    pipeline.configure(run)
    sigmas = pipeline.sigmas(run.steps).cpu()
    levels = sigmas[:-1]
    shape = tuple(pipeline.latent_shape(run.height, run.width))
    conditions = conditions_of(None, None, str(prompts))
    encoded = pipeline.encode(list(conditions))
    nfe_per_call = pipeline.nfe_per_call(run.guidance)
    ms = [1] + sorted(extra)
    scores = {(j, m): [] for j in range(len(levels)) for m in ms}
    nfes: dict[tuple[int, int], int] = {}
    finals, groups = [], []
    jobs = [(i, k) for i in range(len(conditions)) for k in range(per_condition)]
    for start in range(0, len(jobs), batch):
        chunk = jobs[start:start + batch]
        index = torch.tensor([i for i, _ in chunk])
        noises = torch.stack([NoiseSpec.fresh(derive_seed(seed, "lookahead", conditions[i].key, k)).build(shape)
                              for i, k in chunk])
        cond = pipeline.select(encoded, index)
        chunk_conditions = [conditions[i] for i, _ in chunk]
        counter = CallCounter(pipeline)
        final = sampler_class(run.sampler)(pipeline.frame).solve(
            counter, pipeline.initial_latents(noises, sigmas), sigmas, cond, on_step=counter.step)
        finals.append(teacher.score(pipeline.decode(final).float().clamp(0, 1), chunk_conditions).float())
        groups.append(index)
        for j in range(len(levels)):
            x, x0, calls = counter.seen[j]
            for m in ms:
                path = torch.cat([sigmas[j:min(j + m, len(levels))], sigmas.new_zeros(1)])
                ahead = CallCounter(pipeline)
                preview = sampler_class("euler")(pipeline.frame).solve(ahead, x, path, cond, x0_first=x0)
                nfes[(j, m)] = (calls + ahead.calls) * nfe_per_call
                scores[(j, m)].append(teacher.score(pipeline.decode_preview(preview).float().clamp(0, 1),
                                                    chunk_conditions).float())
    final, group = torch.cat(finals), torch.cat(groups)
    sign = 1.0 if type(teacher).higher_is_better else -1.0

    def tau(values: torch.Tensor) -> float:
        return mean_kendall([((sign * values[group == g]).tolist(), (sign * final[group == g]).tolist())
                             for g in group.unique()])

    return {"sigmas": [float(s) for s in levels], "ms": ms, "full_nfe": counter.calls * nfe_per_call,
            "table": {(j, m): (nfes[(j, m)], tau(torch.cat(v))) for (j, m), v in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="shapes")
    parser.add_argument("--verifier", default="shapes-clip", help="the teacher scoring previews and final samples")
    parser.add_argument("--prompts", type=Path, default=STUDY_PROMPTS)
    parser.add_argument("--per-condition", type=int, default=24)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--extra", type=int, nargs="+", default=[2, 3], help="m: denoiser calls a lookahead makes")
    parser.add_argument("--batch", type=int, default=96)
    args = parser.parse_args()
    result = measure(args.pipeline, args.verifier, args.prompts, args.per_condition, args.seed, args.extra,
                     args.batch)
    print(f"within-prompt Kendall tau with the final {args.verifier} score; NFEs a candidate has cost by then "
          f"(a full solve: {result['full_nfe']})")
    print("| after step | sigma | " + " | ".join(f"m {m}: NFEs, tau" for m in result["ms"]) + " |")
    print("|---" * (2 + len(result["ms"])) + "|")
    for j, sigma in enumerate(result["sigmas"]):
        cells = [f"{result['table'][(j, m)][0]}, {result['table'][(j, m)][1]:+.3f}" for m in result["ms"]]
        print(f"| {j} | {sigma:.3g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
