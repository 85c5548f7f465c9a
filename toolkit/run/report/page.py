"""report.html of one run, rebuilt from its journal: every search's candidates, its best-so-far curve and lineage.

Self-contained and offline: thumbnails are embedded (8-bit PNGs kept by the journal), each search sits in a
``<template>`` and is drawn only when its page is shown, so runs with thousands of candidates open fast.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ...conditions import Condition
from ...ensemble import aggregate, oriented
from .lineage import Node, draw
from ...store.folder import RunDir
from ...store.journal import ArtifactReader, read_run
from ...store.records import THUMB, ResultRecord
from .table import condition_label, format_cost

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
    aggregate: float = 0.0
    rank: int = 0
    shade: float = 1.0


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


def data_uri(pixels) -> str:
    """An 8-bit (C, H, W) thumbnail embedded as a PNG, or as a JPEG when it is a large colour one (a few kB each,
    so thousands of candidates stay a page that opens fast)."""
    from PIL import Image

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
        search.candidates.append(Candidate(record.id, record.level, record.lineage, record.scores, record.nfe,
                                           None if pixels is None else data_uri(pixels)))
    for key, result in results.items():
        search = searches.setdefault(key, SearchView(*key, condition=result.condition))
        search.result, search.chosen, search.index = result, result.candidate, result.index
        search.condition = result.condition
    return sorted(searches.values(), key=lambda s: (s.index if s.index is not None else math.inf, s.key, s.repeat))


def rank_candidates(search: SearchView, settings: dict) -> None:
    """Each candidate's aggregate among the candidates of its level, its rank there and its colour shade."""
    higher = settings.get("higher_is_better") or {}
    weights = dict(zip(settings.get("verifier_names") or [], settings.get("verifier_weights") or []))
    by_level: dict[float, list[Candidate]] = {}
    for candidate in search.candidates:
        by_level.setdefault(candidate.level, []).append(candidate)
    for members in by_level.values():
        rows = [{name: oriented(value, higher.get(name, True)) for name, value in c.scores.items()} for c in members]
        aggregates = aggregate(rows, settings.get("ensemble") or "rank", weights)
        order = sorted(range(len(members)), key=lambda i: (-aggregates[i], members[i].id))
        for rank, i in enumerate(order):
            members[i].aggregate, members[i].rank = aggregates[i], rank
            members[i].shade = 1.0 - rank / max(1, len(members) - 1)


def best_so_far(search: SearchView, verifier: str, higher: bool) -> str:
    """The driving verifier's best finished score against NFEs spent (candidates in id order) as an SVG."""
    spent, points, best = 0, [], None
    for candidate in sorted(search.candidates, key=lambda c: c.id):
        spent += candidate.nfe
        value = candidate.scores.get(verifier)
        if candidate.level == 0 and value is not None and math.isfinite(value):
            best = value if best is None else (max(best, value) if higher else min(best, value))
        if best is not None:
            points.append((spent, best))
    if not points:
        return "<p class='note'>no finished candidate yet</p>"
    width, height, pad = 320, 140, 34
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_low, x_high = 0, max(xs)
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5

    def at(x, y):
        return (pad + (x - x_low) / max(x_high - x_low, 1) * (width - pad - 8),
                height - pad + 12 - (y - y_low) / (y_high - y_low) * (height - pad - 8))

    steps = []
    for i, (x, y) in enumerate(points):
        px, py = at(x, y)
        if i:
            steps.append(f"H{px:.1f} V{py:.1f}")
        else:
            steps.append(f"M{px:.1f},{py:.1f}")
    return (f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<path d="{" ".join(steps)}" fill="none" stroke="#2a6" stroke-width="2"/>'
            f'<text x="{pad}" y="{height - 4}" class="axis">NFEs spent → {x_high}</text>'
            f'<text x="2" y="12" class="axis">best {html.escape(verifier)}: {points[-1][1]:.4g}</text>'
            f'<text x="2" y="{height - pad + 12}" class="axis">{y_low:.3g}</text></svg>')


def candidate_card(candidate: Candidate, chosen: bool, verifiers: list[str]) -> str:
    scores = "<br>".join(f"{html.escape(name)} {candidate.scores[name]:.4g}" for name in verifiers
                         if name in candidate.scores)
    image = (f'<img src="{candidate.thumb}" alt="candidate {candidate.id}">' if candidate.thumb
             else '<div class="missing">no image</div>')
    return (f'<div class="card{" chosen" if chosen else ""}" data-id="{candidate.id}">{image}'
            f'<div class="meta">#{candidate.id}{" ✔ chosen" if chosen else ""}<br>agg {candidate.aggregate:.3g}'
            f'<br>{scores}<br>{candidate.nfe} NFEs</div></div>')


def render_search(search: SearchView, settings: dict) -> str:
    """One search's section: header, best-so-far curve, candidates ranked (chosen framed), lineage."""
    verifiers = settings.get("verifier_names") or sorted({name for c in search.candidates for name in c.scores})
    higher = (settings.get("higher_is_better") or {}).get(verifiers[0], True) if verifiers else True
    finished = sorted((c for c in search.candidates if c.level == 0), key=lambda c: c.rank)
    stopped = sorted((c for c in search.candidates if c.level > 0), key=lambda c: (-c.level, c.rank))
    nodes = [Node(c.id, c.level, c.rank, c.shade, c.parents, chosen=c.id == search.chosen,
                  title=f"#{c.id} at {c.level:.3g}: " + ", ".join(f"{k} {v:.4g}" for k, v in c.scores.items()))
             for c in search.candidates]
    status = (f"chosen #{search.chosen}, score {search.result.score:.4g}" if search.result
              else "<em>not finished (the run was interrupted; resume it to finish)</em>")
    title = condition_label(search.condition) + f" · repeat {search.repeat}"
    cards = "".join(candidate_card(c, c.id == search.chosen, verifiers) for c in finished)
    kept = ""
    if stopped:
        kept = (f"<details><summary>{len(stopped)} stopped candidates (x0-previews), by level</summary>"
                f"<div class='cards'>{''.join(candidate_card(c, False, verifiers) for c in stopped)}</div></details>")
    nfe = sum(c.nfe for c in search.candidates)
    return (f'<section class="search" data-key="{html.escape(search.key)}" data-repeat="{search.repeat}" '
            f'data-chosen="{"" if search.chosen is None else search.chosen}">'
            f"<h2>{html.escape(title)}</h2><p>{len(search.candidates)} candidates, {nfe} NFEs; {status}</p>"
            f"<div class='row'>{best_so_far(search, verifiers[0], higher) if verifiers else ''}</div>"
            f"<h3>Finished candidates, best first</h3><div class='cards'>{cards}</div>{kept}"
            f"<h3>Lineage</h3><div class='graph'>{draw(nodes)}</div></section>")


def render(run_dir: RunDir, searches: list[SearchView], settings: dict, summary: Optional[dict]) -> str:
    """The whole page: settings, cost, and the searches in pages of ``PAGE_SIZE``."""
    for search in searches:
        rank_candidates(search, settings)
    shown = {key: value for key, value in settings.items() if key not in ("verifier_names", "higher_is_better")}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                   for k, v in shown.items())
    cost = html.escape(format_cost(summary)) if summary else "the run has not finished: no summary.json yet"
    templates = "".join(f"<template>{render_search(search, settings)}</template>" for search in searches)
    candidates = sum(len(s.candidates) for s in searches)
    return PAGE.format(title=html.escape(str(run_dir.path.name)), settings=rows, cost=cost, templates=templates,
                       searches=len(searches), candidates=candidates, page_size=PAGE_SIZE)


def run_settings(run_dir: RunDir) -> tuple[dict, Optional[dict]]:
    """The run's settings (from summary.json when finished, else run.json) and its summary if any."""
    summary = run_dir.read_summary() if run_dir.is_finished() else None
    settings = dict(summary or run_dir.read_fingerprint() or {})
    settings.pop("results", None)
    settings["verifier_names"] = list(settings.get("higher_is_better") or
                                      [spec.partition(":")[0] for spec in settings.get("verifiers") or []])
    return settings, summary


def write_report(path) -> Path:
    """Build ``report.html`` in a run folder from its journal; returns its path."""
    from ...errors import UsageError

    run_dir = RunDir(path)
    if not run_dir.journal_dir.is_dir():
        raise UsageError(f"{run_dir} is no noisesearch run: it has no journal/ (start one with `noisesearch "
                         "predict --out DIR`)")
    settings, summary = run_settings(run_dir)
    page = render(run_dir, load_searches(run_dir), settings, summary)
    run_dir.report_path.write_text(page, encoding="utf-8")
    return run_dir.report_path


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>noisesearch run {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table.settings {{ border-collapse: collapse; font-size: 13px; }}
table.settings th, table.settings td {{ border: 1px solid #ddd; padding: 2px 8px; text-align: left; }}
.search {{ border-top: 2px solid #ccc; margin-top: 1.5em; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 6px; }}
.card {{ border: 3px solid transparent; padding: 2px; font-size: 11px; width: 104px; }}
.card img, .card .missing {{ width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated;
  background: #eee; display: block; }}
.card.chosen {{ border-color: #e08000; background: #fff4e0; }}
.lineage .edge {{ fill: none; stroke: #999; stroke-width: 1; }}
.lineage circle.chosen {{ stroke: #e08000; stroke-width: 3; }}
.lineage .level, .curve .axis {{ font-size: 11px; fill: #555; }}
.graph {{ overflow-x: auto; }}
nav button {{ margin: 0 4px; }}
</style></head>
<body data-searches="{searches}" data-candidates="{candidates}">
<h1>noisesearch run {title}</h1>
<p>{cost}</p>
<details><summary>Settings</summary><table class="settings">{settings}</table></details>
<p>{searches} searches, {candidates} candidates. Candidates are ranked by the run's ensemble aggregate among those
at the same noise level; the chosen one is framed. The lineage draws each candidate at the level it stopped at,
with edges from the candidates it continued or came from.</p>
<nav><button id="prev">&larr; previous</button><span id="where"></span><button id="next">next &rarr;</button>
<button id="all">show all</button></nav>
<main id="page"></main>
<div id="store" hidden>{templates}</div>
<script>
(function () {{
  var templates = Array.prototype.slice.call(document.querySelectorAll("#store > template"));
  var size = {page_size}, pages = Math.max(1, Math.ceil(templates.length / size)), page = 0, all = false;
  function show() {{
    var main = document.getElementById("page");
    main.textContent = "";
    var from = all ? 0 : page * size, to = all ? templates.length : Math.min(templates.length, from + size);
    for (var i = from; i < to; i++) main.appendChild(templates[i].content.cloneNode(true));
    document.getElementById("where").textContent = all ? "all searches" :
      "page " + (page + 1) + " of " + pages;
    location.hash = all ? "all" : "page=" + (page + 1);
  }}
  var hash = location.hash.slice(1);
  if (hash === "all") all = true;
  else if (hash.indexOf("page=") === 0) page = Math.min(pages - 1, Math.max(0, parseInt(hash.slice(5), 10) - 1 || 0));
  document.getElementById("prev").onclick = function () {{ all = false; page = Math.max(0, page - 1); show(); }};
  document.getElementById("next").onclick = function () {{
    all = false; page = Math.min(pages - 1, page + 1); show();
  }};
  document.getElementById("all").onclick = function () {{ all = true; show(); }};
  show();
  window.addEventListener("load", function () {{
    var images = document.querySelectorAll("#page img"), broken = 0;
    for (var i = 0; i < images.length; i++) if (!images[i].complete || images[i].naturalWidth === 0) broken++;
    document.body.setAttribute("data-images", images.length);
    document.body.setAttribute("data-broken-images", broken);
  }});
}})();
</script>
</body></html>
"""
