"""`noisesearch bench`: run a study's cells like `noisesearch predict`, measure them, write results and a report."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from jsonargparse import ArgumentParser

from . import metrics, registry
from .conditions import parse_classes
from .errors import UsageError
from .resolve import resolve_pipeline, resolve_verifiers
from .rundir import RunDir
from .study import AlgorithmSpec, Cell, Study, cells, predict_args


def parse(argv: list[str]) -> tuple[Study, Path]:
    """Parse `bench --config STUDY.yaml --out DIR [--KEY VALUE ...]` (jsonargparse: clean errors, exit 2)."""
    parser = ArgumentParser(prog="noisesearch bench", description="run a scaling study")
    parser.add_argument("--config", action="config")
    parser.add_class_arguments(Study, None)
    parser.add_argument("--out", type=str, required=True, help="study folder; finished cells in it are reused")
    config = parser.parse_args(argv)
    init = parser.instantiate_classes(config).as_dict()
    out = Path(init.pop("out"))
    init.pop("config", None)
    init["algorithms"] = [a if isinstance(a, AlgorithmSpec) else AlgorithmSpec(**a) for a in init["algorithms"]]
    return Study(**init), out


def run_cell(study: Study, cell: Cell, folder: Path) -> str:
    """Run (or resume, or reuse) one cell; returns what was done. A budget the cell cannot use raises."""
    from .predict import predict

    run_dir = RunDir(folder)
    if run_dir.is_finished():
        return "reused"
    if run_dir.can_resume():
        predict(["resume", str(folder)])
        return "resumed"
    predict(["predict", *predict_args(study, cell), "--out", str(folder), "--overwrite", "true"])
    return "ran"


def measure(study: Study, cell: Cell, folder: Path, evaluation, scorers) -> dict:
    """Metrics of a finished cell: evaluator metrics and every scoring verifier's mean score."""
    images, conditions, summary = RunDir(folder).load_images()
    searches = len(summary["results"])
    row = {
        "cell": cell.name,
        "algorithm": "steps" if cell.baseline else cell.algorithm,
        "algorithm_args": dict(cell.args),
        "verifier": "+".join(cell.verifiers),
        "baseline": cell.baseline,
        "steps": summary["steps"],
        "budget_nfe": summary["budget_nfe"] if not cell.baseline else summary["sample_nfe"],
        "nfe_used": summary["nfe_used"] / searches,
        "searches": searches,
        "drove": [] if cell.baseline else list(cell.verifiers),
        "metrics": {},
    }
    values = row["metrics"]
    if evaluation is not None:
        verdicts = evaluation.judge(images, conditions)
        if verdicts is not None:
            values.update(metrics.judged_accuracy(verdicts))
        if searches >= 2 and evaluation.has_features:  # set-level metrics are undefined for a single sample
            values["fid"] = metrics.fid(evaluation, images)
            score = metrics.inception_score(evaluation, images)
            if score is not None:
                values["inception_score"] = score
            values["precision"], values["recall"] = metrics.precision_recall(evaluation, images)
        if conditions[0].kind == "class":
            labels = torch.tensor([c.class_label for c in conditions])
            values["accuracy"] = metrics.accuracy(evaluation, images, labels)
    if study.clip_model is not None and conditions[0].kind == "prompt":
        values["clip_score"] = metrics.clip_score(study.clip_model, images, [c.prompt for c in conditions])
    with torch.no_grad():
        for verifier in scorers:
            values[f"verifier:{verifier.name}"] = float(verifier.score(images, conditions).float().mean())
    return row


def study_evaluation(study: Study, pipeline_cls):
    """The study's ``evaluator`` (a verifier that judges), else the pipeline family's own evaluator, or None."""
    if study.evaluator is None:
        return pipeline_cls.evaluation()
    ((cls, argument),) = resolve_verifiers([study.evaluator], pipeline_cls.condition_kind)
    evaluation = cls(argument).evaluation()
    if evaluation is None:
        raise UsageError(f"evaluator {study.evaluator!r} gives no verdicts; give a verifier that judges (geneval)")
    return evaluation


def study_searches(study: Study, pipeline_cls) -> int:
    """Searches per cell: conditions times ``per_condition``."""
    from .data import read_prompts

    if study.classes is not None:
        conditions = len(parse_classes(study.classes))
    elif study.prompts_file is not None:
        conditions = len(read_prompts(study.prompts_file))
    else:
        conditions = pipeline_cls.num_classes or 1
    return conditions * study.per_condition


def infeasible(cell: Cell, reason: str) -> dict:
    """The row of a cell whose budget cannot pay for one round of its algorithm."""
    return {"cell": cell.name, "algorithm": cell.algorithm, "algorithm_args": dict(cell.args),
            "verifier": "+".join(cell.verifiers), "baseline": cell.baseline, "steps": cell.steps,
            "budget_nfe": cell.budget, "nfe_used": None, "searches": 0, "drove": [], "metrics": {},
            "infeasible": reason}


def run_study(study: Study, out: Path) -> list[dict]:
    """Run every cell (reusing finished ones), measure, and write results.json, results.csv, plots and report."""
    from .report import write_outputs

    pipeline_cls, _ = resolve_pipeline(study.pipeline)
    score_specs = study.score_verifiers or list(dict.fromkeys(v for group in study.verifiers for v in group))
    scorers = [cls(arg) for cls, arg in resolve_verifiers(score_specs, pipeline_cls.condition_kind)]
    for group in study.verifiers:
        resolve_verifiers(group, pipeline_cls.condition_kind)
    for algorithm in study.algorithms:
        registry.lookup("algorithms", algorithm.name)
    evaluation = study_evaluation(study, pipeline_cls)
    grid = cells(study)
    out.mkdir(parents=True, exist_ok=True)
    rows, spent, fresh_nfe, fresh_s = [], 0.0, 0.0, 0.0
    searches = study_searches(study, pipeline_cls)
    for i, cell in enumerate(grid, 1):
        folder = out / "cells" / cell.name
        began = time.perf_counter()
        try:
            action = run_cell(study, cell, folder)
        except UsageError as error:
            if "budget_nfe" not in str(error):
                raise
            rows.append(infeasible(cell, str(error)))
            print(f"[bench] cell {i}/{len(grid)} {cell.name}: infeasible, {error}", flush=True)
            continue
        row = measure(study, cell, folder, evaluation, scorers)
        rows.append(row)
        spent += row["nfe_used"] * row["searches"]
        if action != "reused":
            fresh_nfe += row["nfe_used"] * row["searches"]
            fresh_s += time.perf_counter() - began
        left_nfe = sum((c.budget or 0) * searches for c in grid[i:])
        left = f"about {left_nfe * fresh_s / fresh_nfe:.0f}s left" if fresh_nfe else "time left unknown yet"
        print(f"[bench] cell {i}/{len(grid)} {cell.name}: {action} in {time.perf_counter() - began:.1f}s; "
              f"NFEs spent {spent:.0f}; {left}", flush=True)
    write_outputs(out, rows)
    return rows


def main(argv: list[str]) -> int:
    """Entry point of `noisesearch bench`."""
    study, out = parse(argv)
    rows = run_study(study, out)
    from .report import format_rows

    print(format_rows(rows))
    print(f"[bench] wrote {out}/results.json, results.csv, scaling.png and report.html")
    return 0
