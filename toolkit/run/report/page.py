"""report.html of one run, rebuilt from its journal: every search's candidates, its best-so-far curve and lineage.

Self-contained and offline: thumbnails are embedded (8-bit PNGs kept by the journal), each search sits in a
``<template>`` and is drawn only when its page is shown, so runs with thousands of candidates open fast.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ...clips import animated_webp, pil_frames
from ...conditions import Condition
from ...ensemble import aggregate, oriented
from .lineage import Node, draw, legend
from .trace import trace_section
from ...store.folder import RunDir
from ...store.journal import ArtifactReader, read_run
from ...model_args import ModelArgs
from ...store.records import BASELINE, IMAGE8, THUMB, ArtifactRef, ResultRecord
from ...store.run_records import RunHeader, Summary
from .table import condition_label, format_cost, format_effect, gain_of, judge_line

PAGE_SIZE = 10


@dataclass
class Candidate:
    """One journaled candidate as the report shows it."""

    id: int
    level: float
    parents: list[int]
    scores: dict[str, float]
    nfe: int
    thumb: Optional[str] = None  # a data URI
    artifact: Optional[ArtifactRef] = None
    aggregate: float = 0.0
    rank: int = 0
    shade: float = 1.0
    verdict: Optional[bool] = None  # the world's ground-truth judge of a finished candidate, where it has one
    category: Optional[str] = None


@dataclass
class SearchView:
    """One search: its condition, repeat, candidates, and the chosen candidate once it finished."""

    key: str
    repeat: int
    index: Optional[int] = None
    condition: dict = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Optional[int] = None
    result: Optional[ResultRecord] = None
    baseline: Optional[Candidate] = None  # the first noise solved plainly beside the search (``model.baseline``)

    @property
    def judgeable(self) -> list[Candidate]:
        """Every candidate the journal holds, the no-search baseline included."""
        return [*self.candidates, *([self.baseline] if self.baseline else [])]

    def verdicts(self) -> tuple[Optional[bool], Optional[bool], Optional[str]]:
        """The judge's verdict on the chosen image and on the first plain draw, and the category."""
        first = self.result.first_candidate if self.result else None
        by_id = {c.id: c for c in self.judgeable}
        chosen, drawn = by_id.get(self.chosen), by_id.get(first)
        return (chosen.verdict if chosen else None, drawn.verdict if drawn else None,
                (chosen or drawn).category if (chosen or drawn) else None)


def data_uri(pixels) -> str:
    """An 8-bit (C, H, W) thumbnail embedded as a PNG, or as a JPEG when it is a large colour one (a few kB each,
    so thousands of candidates stay a page that opens fast); a clip's (F, C, H, W) as an animated WebP."""
    from PIL import Image

    if pixels.ndim == 4:
        import torch

        frames = pil_frames(torch.from_numpy(pixels))
        return "data:image/webp;base64," + base64.b64encode(animated_webp(frames, lossless=False)).decode()
    array = pixels.transpose(1, 2, 0)
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array[..., :3])
    buffer = io.BytesIO()
    if image.mode == "RGB" and max(image.size) > 48:
        image.save(buffer, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def load_searches(run_dir: RunDir) -> list[SearchView]:
    """Every search the journal holds (all ranks), with its candidates in id order."""
    records, results = read_run(run_dir.journal_dir)
    thumbs = ArtifactReader(run_dir.journal_dir)
    searches: dict[tuple, SearchView] = {}
    for key in sorted(records):
        record = records[key]
        search = searches.setdefault(key[:2], SearchView(*key[:2], condition=Condition.from_key(key[0]).as_dict()))
        pixels = thumbs.read(record.artifact, THUMB)
        candidate = Candidate(record.id, record.level, record.lineage, record.scores, record.nfe,
                              None if pixels is None else data_uri(pixels), record.artifact)
        if record.id == BASELINE:
            search.baseline = candidate
        else:
            search.candidates.append(candidate)
    for key, result in results.items():
        search = searches.setdefault(key, SearchView(*key, condition=result.condition))
        search.result, search.chosen, search.index = result, result.candidate, result.index
        search.condition = result.condition
    return sorted(searches.values(), key=lambda s: (s.index if s.index is not None else math.inf, s.key, s.repeat))


def rank_candidates(search: SearchView, header: RunHeader) -> None:
    """Each candidate's aggregate among the candidates of its level, its rank there and its colour shade."""
    higher = header.higher_is_better
    weights = dict(zip(header.verifier_names, header.model.verifier_weights or []))
    by_level: dict[float, list[Candidate]] = {}
    for candidate in search.candidates:
        by_level.setdefault(candidate.level, []).append(candidate)
    for members in by_level.values():
        rows = [{name: oriented(value, higher.get(name, True)) for name, value in c.scores.items()} for c in members]
        aggregates = aggregate(rows, header.model.ensemble or "rank", weights)
        order = sorted(range(len(members)), key=lambda i: (-aggregates[i], members[i].id))
        for rank, i in enumerate(order):
            members[i].aggregate, members[i].rank = aggregates[i], rank
            members[i].shade = 1.0 - rank / max(1, len(members) - 1)


def attach_verdicts(run_dir: RunDir, searches: list[SearchView], header: RunHeader) -> bool:
    """The world's ground-truth verdict on every finished candidate whose image the journal kept, where the
    pipeline family has a judge (digits, shapes); False when it has none."""
    import torch

    from ...errors import UsageError
    from ...resolve import resolve_pipeline

    try:
        family, _ = resolve_pipeline(header.model.pipeline)
        evaluation = family.evaluation()
    except UsageError:
        return False
    if evaluation is None:
        return False
    reader = ArtifactReader(run_dir.journal_dir)
    owners, images, conditions = [], [], []
    for search in searches:
        for candidate in search.judgeable:
            pixels = reader.read(candidate.artifact, IMAGE8) if candidate.level == 0 else None
            if pixels is not None:
                owners.append(candidate)
                images.append(torch.from_numpy(pixels.copy()).float() / 255)
                conditions.append(Condition.from_key(search.key))
    judged = False
    for start in range(0, len(images), 256):
        verdicts = evaluation.verdicts(torch.stack(images[start : start + 256]), conditions[start : start + 256])
        if verdicts is None:
            return False
        for candidate, (category, correct) in zip(owners[start : start + 256], verdicts):
            candidate.category, candidate.verdict = category, correct
            judged = True
    return judged


def ticks(low: float, high: float, count: int = 3) -> list[float]:
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def tick_labels(values: list[float]) -> list[str]:
    """Labels for axis ticks, with as many significant digits as it takes to tell them apart (at most 10)."""
    for digits in range(3, 11):
        labels = [f"{value:.{digits}g}" for value in values]
        if len(set(labels)) == len(set(values)):
            return labels
    return labels


def best_so_far(search: SearchView, verifier: str, higher: bool, budget: Optional[int]) -> str:
    """Every scored candidate against the NFEs spent when it was scored (id order): previews hollow, finished
    candidates filled, the best finished so far as a step line, and the budget as a dashed line."""
    spent, points, steps, best = 0, [], [], None
    for candidate in sorted(search.candidates, key=lambda c: c.id):
        spent += candidate.nfe
        value = candidate.scores.get(verifier)
        if value is None or not math.isfinite(value):
            continue
        points.append((spent, value, candidate.level == 0))
        if candidate.level == 0:
            best = value if best is None else (max(best, value) if higher else min(best, value))
            steps.append((spent, best))
    if not points:
        return "<p class='note'>no candidate scored yet</p>"
    width, height, left, bottom, top, right = 480, 210, 58, 34, 24, 16
    x_high = max(spent, budget or 0, 1)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + x / x_high * (width - left - right),
                height - bottom - (y - y_low) / (y_high - y_low) * (height - bottom - top))

    parts = [f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="best so far">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="frame"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="frame"/>']
    for value in ticks(0, x_high):
        x, _ = at(value, y_low)
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" class="axis" text-anchor="middle">'
                     f'{value:.0f}</text>')
    y_ticks = ticks(y_low, y_high)
    for value, label in zip(y_ticks, tick_labels(y_ticks)):
        _, y = at(0, value)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{label}</text>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" class="axis" text-anchor="middle">'
                 f'NFEs spent</text><text x="4" y="14" class="axis">{html.escape(verifier)}</text>')
    if budget:
        x, _ = at(budget, y_low)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" class="budget"/>'
                     f'<text x="{x - 4:.1f}" y="{top - 6}" class="axis" text-anchor="end">budget {budget}</text>')
    for x_value, y_value, finished in points:
        x, y = at(x_value, y_value)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="{"finished" if finished else "preview"}"/>')
    if steps:
        path = []
        for i, (x_value, y_value) in enumerate(steps):
            x, y = at(x_value, y_value)
            path.append(f"M{x:.1f},{y:.1f}" if i == 0 else f"H{x:.1f} V{y:.1f}")
        x, _ = at(spent, y_low)
        path.append(f"H{x:.1f}")
        parts.append(f'<path d="{" ".join(path)}" class="best"/>')
    parts.append("</svg>")
    return "".join(parts)


def verdict_word(verdict: Optional[bool]) -> str:
    return "none" if verdict is None else ("correct" if verdict else "wrong")


def verdict_badge(candidate: Candidate) -> str:
    if candidate.verdict is None:
        return ""
    label = ("✓ correct" if candidate.verdict else "✗ wrong") + (f" ({candidate.category})" if candidate.category else "")
    return f'<span class="verdict {"correct" if candidate.verdict else "wrong"}">{html.escape(label)}</span>'


def candidate_card(candidate: Candidate, chosen: bool, verifiers: list[str], full: Optional[str] = None) -> str:
    scores = "<br>".join(f"{html.escape(name)} {candidate.scores[name]:.6g}" for name in verifiers
                         if name in candidate.scores)
    aggregate = f"<br>aggregate {candidate.aggregate:.3g}" if len(verifiers) > 1 else ""
    full_size = f' data-full="{html.escape(full)}"' if full else ""
    image = (f'<img src="{candidate.thumb}" alt="candidate {candidate.id}" class="zoomable" '
             f'data-caption="candidate #{candidate.id}"{full_size}>' if candidate.thumb
             else '<div class="missing">no image</div>')
    return (f'<div class="card{" chosen" if chosen else ""}" data-id="{candidate.id}">{image}'
            f'<div class="meta">#{candidate.id}{" ✔ chosen" if chosen else ""} {verdict_badge(candidate)}'
            f'<br>{scores}{aggregate}<br>{candidate.nfe} NFEs</div></div>')


def render_search(search: SearchView, header: RunHeader) -> str:
    """One search's section: header, best-so-far chart, candidates ranked (chosen framed), lineage with legend."""
    verifiers = header.verifier_names or sorted({name for c in search.candidates for name in c.scores})
    higher = header.higher(verifiers[0]) if verifiers else True
    finished = sorted((c for c in search.candidates if c.level == 0), key=lambda c: c.rank)
    stopped = sorted((c for c in search.candidates if c.level > 0), key=lambda c: (-c.level, c.rank))
    nodes = [Node(c.id, c.level, c.rank, c.shade, c.parents, chosen=c.id == search.chosen,
                  title=f"#{c.id} at {c.level:.3g}: " + ", ".join(f"{k} {v:.4g}" for k, v in c.scores.items()))
             for c in search.candidates]
    status = (f"chosen #{search.chosen}, score {search.result.score:.6g}" if search.result
              else "<em>not finished (the run was interrupted; resume it to finish)</em>")
    title = condition_label(search.condition) + f" · repeat {search.repeat}"
    full = (search.result.animation or search.result.image) if search.result else None
    cards = "".join(candidate_card(c, c.id == search.chosen, verifiers, full if c.id == search.chosen else None)
                    for c in finished)
    kept = ""
    if search.baseline is not None:
        kept += ("<h3>No search: the first noise solved plainly (never chosen; its NFEs apart from the budget)</h3>"
                 f"<div class='cards baseline'>{candidate_card(search.baseline, False, verifiers)}</div>")
    if stopped:
        kept += (f"<details><summary>{len(stopped)} stopped candidates (x0-previews), by level</summary>"
                f"<div class='cards'>{''.join(candidate_card(c, False, verifiers) for c in stopped)}</div></details>")
    nfe = sum(c.nfe for c in search.candidates)
    budget = header.model.budget_nfe
    chart = best_so_far(search, verifiers[0], higher, budget) if verifiers else ""
    trace = trace_section(search.result.trace if search.result else None)
    return (f'<section class="search" id="search-{search.index if search.index is not None else search.key}" '
            f'data-key="{html.escape(search.key)}" data-repeat="{search.repeat}" '
            f'data-chosen="{"" if search.chosen is None else search.chosen}">'
            f"<h2>{html.escape(title)}</h2><p>{len(search.candidates)} candidates, {nfe} of {budget} NFEs; "
            f"{status}</p><div class='row'>{chart}</div>{trace}"
            f"<h3>Finished candidates, best first</h3><div class='cards'>{cards}</div>{kept}"
            f"<h3>Lineage</h3><div class='graph'>{draw(nodes)}</div>{legend()}</section>")


def overview_row(position: int, search: SearchView, header: RunHeader) -> str:
    """One search in the overview table: chosen thumbnail, first plain draw against the chosen, gain, ties, NFEs,
    and the world's verdict on the chosen image."""
    verifier = header.driving_verifier
    higher = header.higher(verifier)
    result = search.result
    chosen = next((c for c in search.candidates if c.id == search.chosen), None)
    best = result.scores.get(verifier) if result else None
    first = result.first_scores.get(verifier) if result and result.first_scores else None
    gain = gain_of(result, verifier, higher) if result else None
    chosen_verdict, first_verdict, _ = search.verdicts()
    verdict, first_word = (verdict_word(v) for v in (chosen_verdict, first_verdict))
    full = html.escape(result.animation or result.image) if result else ""
    image = (f'<img src="{chosen.thumb}" alt="chosen" class="zoomable" data-full="{full}" '
             f'data-caption="{html.escape(condition_label(search.condition))}, chosen #{chosen.id}">'
             if chosen is not None and chosen.thumb and result else "")

    def cell(value: Optional[float], sign: bool = False) -> str:
        if value is None:
            return "<td data-value=''>-</td>"
        return f"<td data-value='{value!r}'>{value:+.6g}</td>" if sign else f"<td data-value='{value!r}'>{value:.6g}</td>"

    label = condition_label(search.condition)
    nfe = result.nfe if result else sum(c.nfe for c in search.candidates)
    return (f"<tr data-position='{position}' data-condition='{html.escape(label.lower())}' "
            f"data-verdict='{verdict}'><td data-value='{search.index if search.index is not None else position}'>"
            f"{search.index if search.index is not None else '-'}</td><td data-value='{html.escape(label)}'>"
            f"{html.escape(label)}</td><td data-value='{search.repeat}'>{search.repeat}</td><td>{image}</td>"
            f"{cell(first)}<td data-value='{first_word}' class='verdict {first_word}'>"
            f"{'' if first_word == 'none' else first_word}</td>{cell(best)}{cell(gain, sign=True)}<td data-value='{result.ties if result and result.ties else 0}'>"
            f"{result.ties if result and result.ties else ''}</td><td data-value='{nfe}'>{nfe}</td>"
            f"<td data-value='{verdict}' class='verdict {verdict}'>{'' if verdict == 'none' else verdict}</td></tr>")


def judged_searches(run_dir: RunDir, header: RunHeader) -> tuple[list[SearchView], bool]:
    """Every search of the journal, its candidates ranked and, where the world has a judge, judged (and whether
    it has one)."""
    searches = load_searches(run_dir)
    for search in searches:
        rank_candidates(search, header)
    return searches, attach_verdicts(run_dir, searches, header)


def with_verdicts(records: list[ResultRecord], searches: list[SearchView]) -> list[ResultRecord]:
    """The result records with the judge's verdicts on their chosen image and first plain draw."""
    by_key = {(s.key, s.repeat): s for s in searches}
    out = []
    for record in records:
        search = by_key.get(record.key)
        chosen, first, category = search.verdicts() if search else (None, None, None)
        out.append(dataclasses.replace(record, verdict=chosen, first_verdict=first, category=category))
        if search is not None:
            search.result = out[-1]
    return out


def render(run_dir: RunDir, searches: list[SearchView], header: RunHeader, summary: Optional[Summary],
           judged: bool) -> str:
    """The whole page: an overview of the searches, cost and settings, and every search in pages of ten."""
    shown = {key: value for key, value in header.to_json().items() if key != "higher_is_better"}
    if summary is not None:
        shown.update({key: value for key, value in summary.cost.to_json().items()})
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(plain(v))}</td></tr>"
                   for k, v in shown.items())
    cost = html.escape(format_cost(summary.cost)) if summary else "the run has not finished: no summary.json yet"
    templates = "".join(f"<template>{render_search(search, header)}</template>" for search in searches)
    candidates = sum(len(s.candidates) for s in searches)
    verifier = header.driving_verifier or "score"
    records = [s.result for s in searches if s.result is not None]
    effect = " · ".join(filter(None, [judge_line(records), format_effect(records, header)])) if records else None
    links = " · ".join(f'<a href="{name}">{name}</a>' for name in ("summary.json", "grid.png", "config.yaml")
                       if (run_dir.path / name).exists())
    return string.Template(PAGE).substitute(
        title=html.escape(str(run_dir.path.name)), settings=rows, cost=cost, templates=templates,
        searches=len(searches), candidates=candidates, page_size=PAGE_SIZE, verifier=html.escape(verifier),
        overview="".join(overview_row(i, search, header) for i, search in enumerate(searches)),
        effect=html.escape(effect or ""), links=links, plural="" if len(searches) == 1 else "es",
        judged=("the world's judge gives each finished image a verdict (✓ correct, ✗ wrong)" if judged
                else "this pipeline has no ground-truth judge"))


def plain(value) -> str:
    """A setting as a person writes it: strings without JSON quotes, nothing for null."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def run_settings(run_dir: RunDir) -> tuple[RunHeader, Optional[Summary]]:
    """The run's settings (from summary.json when finished, else run.json) and its summary if any."""
    summary = run_dir.read_summary() if run_dir.is_finished() else None
    header = summary.header if summary is not None else run_dir.read_fingerprint()
    return header or RunHeader(ModelArgs()), summary


def write_report(path, prepared: Optional[tuple[list[SearchView], bool]] = None) -> Path:
    """Build ``report.html`` in a run folder from its journal (``prepared``: its searches already judged); returns
    its path."""
    from ...errors import UsageError

    run_dir = RunDir(path)
    if not run_dir.journal_dir.is_dir() and run_dir.is_study():
        raise UsageError(run_dir.study_advice())
    if not run_dir.journal_dir.is_dir():
        raise UsageError(f"{run_dir} is no noisesearch run: it has no journal/ (start one with `noisesearch "
                         "predict --out DIR`)")
    settings, summary = run_settings(run_dir)
    searches, judged = prepared or judged_searches(run_dir, settings)
    page = render(run_dir, searches, settings, summary, judged)
    run_dir.report_path.write_text(page, encoding="utf-8")
    return run_dir.report_path


PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
