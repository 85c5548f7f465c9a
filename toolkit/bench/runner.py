"""`noisesearch bench`: run a study's cells like `noisesearch predict`, measure them, write results and a report."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from . import metrics, uncertainty
from .. import registry
from ..clips import is_clip_batch
from ..conditions import Condition, parse_classes
from ..engine.scoring import Scorer
from ..errors import BudgetError, UsageError
from ..run.arguments import settings_and_out
from ..resolve import resolve_pipeline, resolve_verifiers, split_verifier_spec
from ..store.folder import RunDir
from .rows import CellCost, CellRow, Comparison, Health, PairedMetric
from .study import AlgorithmSpec, Cell, Study, cells
from .study import predict_config as predict_config_of


def parse(argv: list[str]) -> tuple[Study, Path]:
    """Parse `bench --config STUDY.yaml --out DIR [--KEY VALUE ...]` (jsonargparse: clean errors, exit 2)."""
    init, out = settings_and_out("noisesearch bench", "run a scaling study", Study,
                                 "study folder; finished cells in it are reused", argv)
    init["algorithms"] = [a if isinstance(a, AlgorithmSpec) else AlgorithmSpec(**a) for a in init["algorithms"]]
    return Study(**init), out


def run_cell(study: Study, cell: Cell, folder: Path) -> str:
    """Run (or resume, or reuse) one cell; returns what was done. A budget the cell cannot use raises BudgetError."""
    from ..lightning.predict_cli import predict_config

    run_dir = RunDir(folder)
    if run_dir.is_finished():
        return "reused"
    if run_dir.can_resume():
        predict_config({**run_dir.read_config(), "out": str(folder), "resume": True, "overwrite": False,
                        "quiet": True})
        return "resumed"
    predict_config({**predict_config_of(study, cell), "out": str(folder), "overwrite": True, "quiet": True})
    return "ran"


def warm_up(study: Study, cell: Cell, folder: Path) -> None:
    """One untimed sample of a cell's model before the first timed cell, so that no cell's seconds carry the
    process's first-call costs (imports, allocator, kernels); its folder is removed afterwards."""
    import shutil

    from ..lightning.predict_cli import predict_config

    config = predict_config_of(study, cell)
    config["model"] = {**config["model"], "algorithm": "none", "algorithm_args": {}}
    config["model"].pop("budget_nfe", None)  # `none` spends one sample whatever the budget
    config["data"] = {**config["data"], "per_condition": 1}
    try:
        predict_config({**config, "out": str(folder), "overwrite": True, "quiet": True})
    except BudgetError:
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(study: Study, cell: Cell, folder: Path, evaluation, scorers, higher: dict[str, bool]) -> CellRow:
    """Metrics of a finished cell with their bootstrap intervals, its cost in seconds, and its verifier health
    (torchmetrics' notices about its own buffers are left out of the terminal)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchmetrics\..*")
        warnings.filterwarnings("ignore", message=r".*degrees of freedom is <= 0.*")
        return measured_row(study, cell, folder, evaluation, scorers, higher)


def measured_row(study: Study, cell: Cell, folder: Path, evaluation, scorers, higher: dict[str, bool]) -> CellRow:
    images, conditions, summary = RunDir(folder).load_images()
    header, searches = summary.header, len(summary.results)
    row = CellRow(
        cell=cell.name, algorithm="steps" if cell.baseline else cell.algorithm, algorithm_args=dict(cell.args),
        verifier="+".join(cell.verifiers), baseline=cell.baseline, steps=header.model.steps,
        budget_nfe=None if cell.seconds is not None else (header.model.budget_nfe if not cell.baseline
                                                          else header.sample_nfe),
        budget_seconds=cell.seconds, nfe_used=summary.cost.nfe_used / searches, searches=searches,
        drove=[] if cell.baseline else [split_verifier_spec(spec)[0] for spec in cell.verifiers])
    values = row.metrics
    per_search: dict = {"key": [f"{c.key}#{r.repeat}" for c, r in zip(conditions, summary.results)]}
    if evaluation is not None:
        verdicts = evaluation.verdicts(images, conditions)
        if verdicts is not None:
            per_search["correct"] = [correct for _, correct in verdicts]
            row.unjudged = sum(correct is None for _, correct in verdicts)  # prompts the judge cannot parse
            if verdicts[0][0] is not None:
                values.update(metrics.judged_accuracy(verdicts))
                per_search["category"] = [category for category, _ in verdicts]
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
            scored = judged(verifier, images, conditions, header).float().cpu()
            values[f"verifier:{verifier.name}"] = float(scored.mean())
            per_search[f"verifier:{verifier.name}"] = scored.tolist()
    for name in row.drove:  # a driver that cannot score a finished image alone: its score as the search made it
        if f"verifier:{name}" not in per_search and all(name in r.scores for r in summary.results):
            per_search[f"verifier:{name}"] = [float(r.scores[name]) for r in summary.results]
            values[f"verifier:{name}"] = float(sum(per_search[f"verifier:{name}"]) / searches)
    row.per_search = per_search
    row.intervals = uncertainty.intervals(per_search, study.seed)
    row.point_estimates = [name for name in values if name not in row.intervals]
    elapsed = summary.cost.elapsed_s
    row.cost = CellCost(elapsed, summary.cost.denoiser_s, summary.cost.verifier_s,
                        elapsed / searches if elapsed else None)
    row.health = Health(**cell_health(folder, row, images, conditions, evaluation, scorers, higher))
    return row


def judged(verifier, samples: torch.Tensor, conditions: list, header) -> torch.Tensor:
    """A verifier's scores of images, or of clips as the run judged them (its ``clip_frames`` and ``clip_aggregate``)."""
    model = header.model
    return Scorer([verifier], clip_frames=model.clip_frames, clip_aggregate=model.clip_aggregate).values(
        samples, list(conditions))[verifier.name]


def cell_health(folder: Path, row: CellRow, images, conditions, evaluation, scorers, higher: dict[str, bool]) -> dict:
    """Diversity of the returned samples (Vendi, over each condition's repeats), the driving score's tie rate over
    each search's finished candidates, and its Kendall tau with every other verifier and the evaluator there."""
    from . import health
    from ..ensemble import aggregate, oriented
    from ..store.journal import load_artifact, read_run
    from ..store.records import image_of

    result: dict = {}
    extractor = evaluation if evaluation is not None and evaluation.has_features else next(
        (v for v in scorers if v.has_features()), None)
    if extractor is not None:
        with torch.no_grad():
            middle = is_clip_batch(images) and not getattr(extractor, "watches_clips", False)
            features = extractor.features(images[:, images.shape[1] // 2] if middle
                                          else images).float().cpu()  # a clip's middle frame, unless it watches clips
        result["vendi"] = health.mean_vendi(features, [c.key for c in conditions])
        result["vendi_features"] = extractor.name
    if row.baseline:
        return result
    run_dir = RunDir(folder)
    candidates, _ = read_run(run_dir.journal_dir)
    by_search: dict[tuple, dict[float, list]] = {}  # (search, repeat) -> noise level -> candidates
    for key in sorted(candidates):
        by_search.setdefault(key[:2], {}).setdefault(candidates[key].level, []).append(candidates[key])
    driving = row.drove
    header = run_dir.read_summary().header
    weights = dict(zip(driving, header.model.verifier_weights or []))

    def scored(records: list) -> list[float]:
        """The search's own ensemble over its driving verifiers (as ``Scorer.aggregate``)."""
        rows = [{name: oriented(r.scores[name], higher[name]) for name in driving} for r in records]
        return aggregate(rows, header.model.ensemble or "rank", weights)

    last_choices = []  # per search, its candidates at the lowest noise level that holds two or more
    for levels in by_search.values():
        crowded = [level for level, found in levels.items() if len(found) >= 2]
        if crowded:
            last_choices.append(scored(levels[min(crowded)]))
    result["tie_rate"] = health.tie_rate(last_choices)
    searches = [levels[0] for levels in by_search.values() if 0 in levels]  # finished candidates
    aggregates = [scored(records) for records in searches]
    pictures, owners, conditions_of = [], [], []
    for index, records in enumerate(searches):
        for position, record in enumerate(records):
            image = image_of(load_artifact(run_dir.journal_dir, record.artifact))
            if image is not None:
                pictures.append(image)
                owners.append((index, position))
                conditions_of.append(Condition.from_key(record.search))
    if not pictures:
        return result
    stacked = torch.stack(pictures)
    others: dict[str, list[float]] = {}
    with torch.no_grad():
        for verifier in scorers:
            if verifier.name not in driving:
                scored = [judged(verifier, stacked[i : i + 256], conditions_of[i : i + 256], header).float().cpu()
                          for i in range(0, len(stacked), 256)]
                others[f"verifier:{verifier.name}"] = [float(v) if verifier.higher_is_better else -float(v)
                                                       for v in torch.cat(scored)]
    verdicts = None if evaluation is None else evaluation.verdicts(stacked, conditions_of)
    if verdicts is not None:
        others["evaluator"] = [float(bool(correct)) for _, correct in verdicts]
    agreement = {}
    for name, scored in others.items():
        pairs: dict[int, tuple[list[float], list[float]]] = {}
        for (index, position), value in zip(owners, scored):
            mine, theirs = pairs.setdefault(index, ([], []))
            mine.append(aggregates[index][position])
            theirs.append(value)
        agreement[name] = health.mean_kendall(list(pairs.values()))
    result["kendall_tau"] = agreement
    return result


def study_evaluation(study: Study, family):
    """The study's ``evaluator`` (a verifier that judges), else the pipeline family's own evaluator, or None."""
    if study.evaluator is None:
        return family.evaluation()
    ((cls, argument),) = resolve_verifiers([study.evaluator], family.condition_kind)
    evaluation = cls(argument).evaluation()
    if evaluation is None:
        raise UsageError(f"evaluator {study.evaluator!r} gives no verdicts; give a verifier that judges (geneval)")
    return evaluation


def study_conditions(study: Study, family) -> list:
    """The study's conditions in order: its classes, its prompts, or every class of the family."""
    from ..run.tasks import read_prompts

    if study.classes is not None:
        return parse_classes(study.classes)
    if study.prompts_file is not None:
        return read_prompts(study.prompts_file)
    return list(range(family.num_classes or 1))


def study_searches(study: Study, family) -> int:
    """Searches per cell: conditions times ``per_condition``."""
    return len(study_conditions(study, family)) * study.per_condition


def run_interleaved(study: Study, grid: list[Cell], out: Path, family) -> set[str]:
    """``interleave`` K: every cell's first K-th of the conditions, then every cell's next, each block a resumed part
    of the cell's run; returns the cells a budget made infeasible (left to ``run_study`` to report)."""
    from ..lightning.predict_cli import predict_config

    conditions = study_conditions(study, family)
    blocks = min(study.interleave, len(conditions))
    infeasible_cells: set[str] = set()
    warm_up(study, grid[0], out / "warm-up")
    for block in range(1, blocks + 1):
        prefix = conditions[:round(len(conditions) * block / blocks)]
        for cell in grid:
            folder = out / "cells" / cell.name
            run_dir = RunDir(folder)
            finished = run_dir.is_finished()
            if cell.name in infeasible_cells or finished and (
                    len(run_dir.read_summary().results) >= len(prefix) * study.per_condition):
                continue
            config = predict_config_of(study, cell)
            data = {k: v for k, v in config["data"].items() if k not in ("classes", "prompts_file")}
            data["classes" if study.prompts_file is None else "prompts"] = (
                ",".join(map(str, prefix)) if study.prompts_file is None else list(prefix))
            resume = finished or run_dir.can_resume()
            try:
                predict_config({**config, "data": data, "out": str(folder), "resume": resume,
                                "overwrite": not resume, "quiet": True})
            except BudgetError:
                infeasible_cells.add(cell.name)
        print(f"[bench] block {block}/{blocks} of the conditions run in every cell", flush=True)
    return infeasible_cells


def infeasible(cell: Cell, reason: str) -> CellRow:
    """The row of a cell whose budget cannot pay for one round of its algorithm."""
    return CellRow(cell=cell.name, algorithm=cell.algorithm, algorithm_args=dict(cell.args),
                   verifier="+".join(cell.verifiers), baseline=cell.baseline, steps=cell.steps, budget_nfe=cell.budget,
                   budget_seconds=cell.seconds, nfe_used=None, searches=0, infeasible=reason)


def scoring_verifiers(specs: list[str], asked: bool, condition_kind: str) -> list[tuple]:
    """The verifiers that score finished samples. One that compares a sample with its x0-preview (self-supervised)
    can drive search but cannot score a finished image: left out of the default, refused when asked for."""
    resolved = []
    for spec, (cls, argument) in zip(specs, resolve_verifiers(specs, condition_kind)):
        if cls.preview_sigma is None:
            resolved.append((cls, argument))
        elif asked:
            raise UsageError(f"score_verifiers: {spec} scores a sample against its x0-preview, which a finished "
                             "image does not have; leave it out of score_verifiers (it can still drive search)")
    return resolved


def run_study(study: Study, out: Path) -> list[CellRow]:
    """Run every cell (reusing finished ones), measure, and write results.json, results.csv, plots and report."""
    from .report import write_outputs

    family, _ = resolve_pipeline(study.pipeline)
    groups = list(study.verifiers) + [group for a in study.algorithms for group in (a.verifiers or [])]
    score_specs = study.score_verifiers or list(dict.fromkeys(v for group in groups for v in group))
    scorers = [cls(arg) for cls, arg in scoring_verifiers(score_specs, study.score_verifiers is not None,
                                                           family.condition_kind)]
    higher = {}  # every driving verifier's orientation, by name: a driver need not be a scorer (self-supervised)
    for group in groups:
        for spec, (cls, _) in zip(group, resolve_verifiers(group, family.condition_kind)):
            higher[split_verifier_spec(spec)[0]] = cls.higher_is_better
    for algorithm in study.algorithms:
        registry.lookup("algorithms", algorithm.name)
    evaluation = study_evaluation(study, family)
    grid = cells(study)
    out.mkdir(parents=True, exist_ok=True)
    rows, spent, fresh_nfe, fresh_s, fresh_cells, warmed = [], 0.0, 0.0, 0.0, 0, False
    searches = study_searches(study, family)
    if study.interleave > 1:
        run_interleaved(study, grid, out, family)
        warmed = True
    for i, cell in enumerate(grid, 1):
        folder = out / "cells" / cell.name
        if not warmed and not RunDir(folder).is_finished():
            warm_up(study, cell, out / "warm-up")
            warmed = True
        began = time.perf_counter()
        try:
            action = run_cell(study, cell, folder)
        except BudgetError as error:
            rows.append(infeasible(cell, str(error)))
            print(f"[bench] cell {i}/{len(grid)} {cell.name}: infeasible, {error}", flush=True)
            continue
        row = measure(study, cell, folder, evaluation, scorers, higher)
        rows.append(row)
        spent += row.nfe_used * row.searches
        if action != "reused":
            fresh_nfe += row.nfe_used * row.searches
            fresh_s += time.perf_counter() - began
            fresh_cells += 1
        left = eta(grid[i:], searches, fresh_nfe, fresh_s, fresh_cells)
        print(f"[bench] cell {i}/{len(grid)} {cell.name}: {action} in {time.perf_counter() - began:.1f}s; "
              f"NFEs spent {spent:.0f}; {left}", flush=True)
    compare(rows, study.seed)
    write_outputs(out, rows)
    return rows


def eta(left: list[Cell], searches: int, fresh_nfe: float, fresh_s: float, fresh_cells: int) -> str:
    """Seconds left: the cells with a budget at the NFE rate so far, the steps baselines at the mean time a cell
    took (their cost is a few samples, not a budget)."""
    if not fresh_cells or not fresh_nfe:
        return "time left unknown yet"
    seconds = sum(c.budget * searches * fresh_s / fresh_nfe if c.budget else
                  c.seconds * searches if c.seconds else fresh_s / fresh_cells for c in left)
    return f"about {seconds:.0f} s left" if left else "done"


def compare(rows: list[CellRow], seed: int) -> None:
    """Each cell's paired comparison with random search on the same searches (in place), at the nearest NFEs per
    search (``comparison``) and at the nearest seconds per search (``comparison_seconds``); where none can be
    made, the row says why."""
    for row in rows:
        for key, axis in (("comparison", "nfe"), ("comparison_seconds", "seconds")):
            reference = uncertainty.nearest_reference(row, rows, axis)
            if reference is None:
                continue
            if reference.per_search["key"] == row.per_search["key"]:
                found = Comparison(reference.cell, [PairedMetric(**m) for m in uncertainty.paired(
                    row.per_search, reference.per_search, seed)])
            else:
                found = Comparison(reference.cell, [], f"not paired: {row.cell} and {reference.cell} searched "
                                   "different conditions or repeats (rerun both with the same study settings)")
            setattr(row, key, found)


def main(argv: list[str]) -> int:
    """Entry point of `noisesearch bench`: a study (``--config STUDY.yaml --out DIR``), or ``tables DIR`` (a finished
    study's tables) and ``pool`` (a paired comparison pooled over studies)."""
    if argv[:1] in (["tables"], ["pool"]):
        from .tables import pool_main, tables_main

        return (tables_main if argv[0] == "tables" else pool_main)(argv[1:])
    study, out = parse(argv)
    rows = run_study(study, out)
    from .report import format_rows

    print(format_rows(rows))
    print(f"[bench] wrote {out}/results.json, results.csv, scaling.png and report.html")
    return 0
