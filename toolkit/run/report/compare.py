"""``noisesearch compare DIR DIR ...``: finished runs side by side, a table in the terminal and one offline HTML page
with each condition's chosen images, their scores, and the settings that differ."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Optional

from ...errors import UsageError
from ...store.folder import RunDir
from .table import condition_label, gain_of, judged

SETTINGS = ("pipeline", "algorithm", "algorithm_args", "verifiers", "ensemble", "budget_nfe", "steps", "sampler",
            "guidance", "height", "width", "seed", "mode", "dtype")


class Run:
    """One finished run as compared: its folder, summary and result records."""

    def __init__(self, folder: str):
        self.dir = RunDir(folder)
        self.summary = self.dir.read_summary()
        self.records = self.summary.results
        self.name = self.dir.path.name or str(self.dir.path)
        self.verifier = self.summary.header.driving_verifier
        self.higher = self.summary.header.higher(self.verifier)

    def setting(self, key: str):
        """A setting as summary.json records it (run.json's keys)."""
        return self.summary.header.to_json().get(key)

    def mean_score(self) -> Optional[float]:
        values = [r.scores[self.verifier] for r in self.records if self.verifier in r.scores]
        return sum(values) / len(values) if values else None

    def mean_gain(self) -> Optional[float]:
        gains = [g for g in (gain_of(r, self.verifier, self.higher) for r in self.records) if g is not None]
        return sum(gains) / len(gains) if gains else None


def load(folders: list[str]) -> list[Run]:
    if len(folders) < 2:
        raise UsageError("usage: noisesearch compare DIR DIR [DIR ...] [--out PAGE.html] (finished run folders)")
    return [Run(folder) for folder in folders]


def differing(runs: list[Run]) -> list[str]:
    """The settings whose values differ between the runs (what the comparison is about)."""
    return [key for key in SETTINGS if len({json.dumps(run.setting(key), sort_keys=True) for run in runs}) > 1]


def format_runs(runs: list[Run]) -> str:
    """One row per run: what differs, the mean score of its first verifier, the mean gain over the first plain draw,
    the world's judge on the chosen images and the first draws (where it has one), NFEs per search, searches and
    seconds."""
    keys = differing(runs)
    title = ["run", *keys, "verifier", "mean score", "mean gain", "chosen correct", "first draw correct",
             "nfe/search", "searches", "s"]
    rows = []
    for run in runs:
        score, gain = run.mean_score(), run.mean_gain()
        searches = len(run.records)
        rows.append([run.name, *(compact(run.setting(key)) for key in keys), run.verifier or "-",
                     "-" if score is None else f"{score:.4f}", "-" if gain is None else f"{gain:+.4f}",
                     judged(run.records) or "-", judged(run.records, first=True) or "-",
                     f"{run.summary.cost.nfe_used / max(searches, 1):.0f}", str(searches),
                     str(run.summary.cost.elapsed_s if run.summary.cost.elapsed_s is not None else "-")])
    widths = [max(len(row[i]) for row in [title] + rows) for i in range(len(title))]
    return "\n".join(" ".join(cell.ljust(w) if i < 1 + len(keys) else cell.rjust(w)
                              for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in [title] + rows)


def compact(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def image_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render(runs: list[Run]) -> str:
    """The page: the settings table (differing rows marked), then per search its chosen image in every run."""
    settings = "".join(
        f"<tr class='{'differs' if key in differing(runs) else ''}'><th>{html.escape(key)}</th>"
        + "".join(f"<td>{html.escape(compact(run.setting(key)))}</td>" for run in runs) + "</tr>"
        for key in SETTINGS)
    by_key = [{(r.search, r.repeat): r for r in run.records} for run in runs]
    keys = sorted(set().union(*by_key), key=lambda key: min(found[key].index for found in by_key if key in found))
    rows = []
    for key in keys:
        cells = []
        for run, found in zip(runs, by_key):
            record = found.get(key)
            if record is None:
                cells.append("<td class='missing'>not in this run</td>")
                continue
            score = record.scores.get(run.verifier)
            verdict = "" if record.verdict is None else (" · <span class='verdict correct'>✓ correct</span>"
                                                         if record.verdict else
                                                         " · <span class='verdict wrong'>✗ wrong</span>")
            cells.append(f"<td><img src='{image_uri(run.dir.file(record.image))}' alt='{html.escape(run.name)}'>"
                         f"<div>#{record.candidate} · {'' if score is None else f'{score:.4g}'} · {record.nfe} NFEs"
                         f"{verdict}</div></td>")
        condition = condition_label(next(found[key] for found in by_key if key in found).condition)
        rows.append(f"<tr><th>{html.escape(condition)} · r{key[1]}</th>{''.join(cells)}</tr>")
    heads = "".join(f"<th>{html.escape(run.name)}</th>" for run in runs)
    summary = html.escape(format_runs(runs))
    return PAGE.format(heads=heads, settings=settings, rows="".join(rows), summary=summary)


def main(args: list[str]) -> int:
    """Entry point of ``noisesearch compare``: the page goes beside the runs (their common folder) unless ``--out``
    names it."""
    out = None
    if "--out" in args:
        at = args.index("--out")
        if at + 1 >= len(args):
            raise UsageError("--out needs a file name: noisesearch compare DIR DIR --out PAGE.html")
        out, args = Path(args[at + 1]), args[:at] + args[at + 2:]
    runs = load(args)
    if out is None:
        out = Path(os.path.commonpath([str(run.dir.path.resolve().parent) for run in runs])) / "compare.html"
    print(format_runs(runs))
    out.write_text(render(runs), encoding="utf-8")
    print(f"wrote {out}")
    return 0


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>noisesearch: runs compared</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.differs th, tr.differs td {{ background: #fff4e0; font-weight: 600; }}
td img {{ width: 128px; height: 128px; object-fit: contain; image-rendering: pixelated; background: #eee;
  display: block; }}
td.missing {{ color: #999; }}
.verdict.correct {{ color: #1a7f37; font-weight: 600; }} .verdict.wrong {{ color: #b3261e; font-weight: 600; }}
pre {{ background: #f6f6f6; padding: 8px; overflow-x: auto; }}
</style></head><body>
<h1>Runs compared</h1>
<pre>{summary}</pre>
<h2>Settings</h2><p>Rows that differ between the runs are marked.</p>
<table><tr><th></th>{heads}</tr>{settings}</table>
<h2>Chosen images</h2><p>Each search's chosen image in every run, with the candidate, its first verifier's score,
the NFEs it cost and, where the world has a judge, its verdict.</p>
<table><tr><th>search</th>{heads}</tr>{rows}</table>
</body></html>
"""
