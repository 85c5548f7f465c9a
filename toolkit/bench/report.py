"""A study's outputs: results.json, results.csv, scaling.png, per-cell grids and a self-contained report.html."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import shutil
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .hacking import budget_steps, difference_text, plot_hacking, short  # noqa: E402
from .rows import CellRow  # noqa: E402

LOWER_IS_BETTER = {"fid"}


def measured(rows: list[CellRow]) -> list[CellRow]:
    """Rows of cells that ran (infeasible budgets have no samples)."""
    return [row for row in rows if not row.infeasible]


def metric_names(rows: list[CellRow]) -> list[str]:
    return list(dict.fromkeys(name for row in rows for name in row.metrics))


def write_outputs(out: Path, rows: list[CellRow]) -> None:
    """Write every output of a study into ``out``."""
    (out / "results.json").write_text(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
    names = metric_names(rows)
    with open(out / "results.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["cell", "algorithm", "algorithm_args", "verifier", "budget_nfe", "nfe_used", "steps",
                         "searches", "wall_s", "denoiser_s", "verifier_s",
                         *[column for name in names for column in (name, f"{name}:lo", f"{name}:hi")]])
        for row in rows:
            cost = row.cost
            writer.writerow([row.cell, row.algorithm, json.dumps(row.algorithm_args), row.verifier,
                             row.budget_nfe, "" if row.nfe_used is None else f"{row.nfe_used:.1f}",
                             row.steps, row.searches, _blank(cost.wall_s), _blank(cost.denoiser_s),
                             json.dumps(cost.verifier_s),
                             *[value for name in names for value in _with_interval(row, name)]])
    with open(out / "comparison.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["cell", "reference", "metric", "cell_value", "reference_value", "difference", "lo", "hi",
                         "p_value", "test", "searches", "at_equal"])
        for row in rows:
            for comparison, axis in ((row.comparison, "nfe"), (row.comparison_seconds, "seconds")):
                for item in comparison.metrics if comparison is not None else []:
                    low, high = item.interval or ("", "")
                    writer.writerow([row.cell, comparison.reference, item.metric, item.cell_value,
                                     item.reference_value, item.difference, low, high, item.p_value, item.test,
                                     row.searches, axis])
    grids = out / "grids"
    grids.mkdir(exist_ok=True)
    for row in measured(rows):
        shutil.copyfile(out / "cells" / row.cell / "grid.png", grids / f"{row.cell}.png")
    plot_scaling(measured(rows), out / "scaling.png")
    plot_scaling(measured(rows), out / "scaling_seconds.png", axis="seconds")
    (out / "hacking.png").unlink(missing_ok=True)
    plot_hacking(measured(rows), out / "hacking.png")
    (out / "report.html").write_text(render_html(out, rows))


def _blank(value) -> object:
    return "" if value is None else value


def _with_interval(row: CellRow, name: str) -> list:
    interval = row.intervals.get(name)
    return [row.metrics.get(name, ""), *(interval if interval else ("", ""))]


def cost_of(row: CellRow, axis: str) -> Optional[float]:
    """A cell's cost per search: NFEs, or wall-clock seconds of the search (denoiser, verifiers and overhead)."""
    return row.nfe_used if axis == "nfe" else row.seconds


def points_of(members: list[CellRow], name: str, axis: str) -> list[tuple[float, float, Optional[list[float]]]]:
    """A series' (cost, value, interval) of metric ``name``, cheapest first, over cells that have both."""
    return sorted(((cost_of(r, axis), r.metrics[name], r.intervals.get(name))
                   for r in members if name in r.metrics and cost_of(r, axis)), key=lambda point: point[:2])


def series_of(rows: list[CellRow]) -> dict[str, list[CellRow]]:
    series: dict[str, list[CellRow]] = {}
    for row in rows:
        label = "more denoising steps (no search)" if row.baseline else f"{row.algorithm} / {row.verifier}"
        series.setdefault(label, []).append(row)
    return series


def plain_ticks(panel, costs: list[float], axis: str) -> None:
    """Ticks at the cells' own costs (budgets, at most six, spread in log cost), labelled as plain numbers: log
    axes' minor labels overlap."""
    from matplotlib.ticker import NullFormatter, NullLocator

    values = []
    for cost in sorted(set(round(c, 2) for c in costs if c > 0)):
        if not values or cost >= values[-1] * 1.25:  # labels closer than that in log cost would overlap
            values.append(cost)
    if len(values) > 6:
        step = (len(values) - 1) / 5
        values = [values[round(i * step)] for i in range(6)]
    panel.xaxis.set_minor_locator(NullLocator())
    panel.xaxis.set_minor_formatter(NullFormatter())
    panel.set_xticks(values)
    panel.set_xticklabels([f"{v:.0f}" if axis == "nfe" or v >= 10 else f"{v:.2g}" for v in values],
                          rotation=45 if len(values) > 4 else 0)


def plot_scaling(rows: list[CellRow], path: Path, axis: str = "nfe") -> None:
    """Each metric against NFEs (or seconds) per search, log x: a line per algorithm and verifier with its 95%
    bootstrap band, the steps baseline dashed."""
    names = metric_names(rows)
    columns = min(3, len(names))
    lines = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(5 * columns, 3.6 * lines), squeeze=False)
    series = series_of(rows)
    colours = {label: f"C{i}" for i, label in enumerate(series)}
    x_label = "NFEs per search (total)" if axis == "nfe" else "wall-clock seconds per search"
    for panel, name in zip(axes.flat, names):
        for label, members in series.items():
            points = points_of(members, name, axis)
            if points:
                style = "--" if members[0].baseline else "-"
                panel.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", label=label,
                           color=colours[label])
                banded = [p for p in points if p[2]]
                if banded:
                    panel.fill_between([p[0] for p in banded], [p[2][0] for p in banded], [p[2][1] for p in banded],
                                       color=colours[label], alpha=0.15, linewidth=0)
        panel.set_xscale("log")
        plain_ticks(panel, [p[0] for members in series.values() for p in points_of(members, name, axis)], axis)
        panel.set_xlabel(x_label)
        note = " (lower is better)" if name in LOWER_IS_BETTER else ""
        if name.startswith("verifier:") and any(name[len("verifier:"):] in r.drove for r in rows):
            note = " (drives the search)"
        panel.set_title(name + note)
        panel.grid(alpha=0.3)
    for panel in list(axes.flat)[len(names):]:
        panel.axis("off")
    from matplotlib.lines import Line2D

    labels = list(series)
    handles = [Line2D([], [], color=colours[label], marker="o", linestyle="--" if series[label][0].baseline
                      else "-") for label in labels]
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _value_at(members: list[CellRow], name: str, axis: str, x: float) -> Optional[float]:
    """A series' metric at cost ``x``, linear in log cost between its cells; None outside its range."""
    points = points_of(members, name, axis)
    for (x0, y0, _), (x1, y1, _) in zip(points, points[1:]):
        if x0 <= x <= x1:
            share = 0.0 if x1 == x0 else (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + share * (y1 - y0)
    return points[0][1] if len(points) == 1 and math.isclose(points[0][0], x) else None


def ranking(rows: list[CellRow], name: str, axis: str) -> Optional[tuple[float, list[str]]]:
    """The searches ranked by ``name`` at the geometric middle of the cost range every search series covers."""
    series = {label: members for label, members in series_of(rows).items() if not members[0].baseline}
    spans = [[point[0] for point in points_of(members, name, axis)] for members in series.values()]
    if len(series) < 2 or not all(spans):
        return None
    low, high = max(min(s) for s in spans), min(max(s) for s in spans)
    if low > high:
        return None
    x = math.sqrt(low * high)
    values = {label: _value_at(members, name, axis, x) for label, members in series.items()}
    if any(v is None for v in values.values()):
        return None
    worse_first = name in LOWER_IS_BETTER
    return x, sorted(values, key=lambda label: values[label] if worse_first else -values[label])


def unjudged_note(rows: list[CellRow]) -> str:
    """Which cells' accuracy leaves out searches whose prompt the evaluator cannot parse, and how many."""
    counted = [(row.cell, row.unjudged, row.searches) for row in rows if row.unjudged]
    if not counted:
        return ""
    cells = "; ".join(f"{html.escape(cell)}: {count} of {searches}" for cell, count, searches in counted)
    return (f" <strong>Accuracy leaves out the searches whose prompt the evaluator cannot parse</strong> ({cells}); "
            "their verdicts are undecided, not wrong.")


def ranking_note(rows: list[CellRow]) -> str:
    """Whether the order of the searches by the headline metric depends on counting cost in NFEs or in seconds."""
    names = [n for n in metric_names(rows) if not n.startswith("verifier:")] or metric_names(rows)
    if not names:
        return "No metric to rank by."
    name = names[0]
    by_nfe, by_seconds = ranking(rows, name, "nfe"), ranking(rows, name, "seconds")
    if by_nfe is None or by_seconds is None:
        return f"The searches share no cost range in which to rank them by {name}."
    same = by_nfe[1] == by_seconds[1]
    return (f"By {name}: at {by_nfe[0]:.0f} NFEs per search the order is {' > '.join(by_nfe[1])}; at "
            f"{by_seconds[0]:.3g} s per search it is {' > '.join(by_seconds[1])}. The ranking "
            + ("is the same whichever cost is counted." if same else "depends on whether NFEs or seconds are "
               "counted: with expensive verifiers, compare at equal seconds."))


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def format_rows(rows: list[CellRow]) -> str:
    """The summary table printed on stdout (metric names in full: a column is as wide as its name)."""
    names = metric_names(rows)
    widths = [max(10, len(n)) for n in names]
    header = f"{'cell':<44} {'nfe':>7} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths))
    lines = [header]
    for row in rows:
        if row.infeasible:
            lines.append(f"{row.cell[:44]:<44} {'-':>7} infeasible: the budget cannot pay for one round")
            continue
        values = " ".join(f"{row.metrics[n]:>{w}.4f}" if n in row.metrics else f"{'':>{w}}"
                          for n, w in zip(names, widths))
        lines.append(f"{row.cell[:44]:<44} {row.nfe_used:>7.1f} {values}")
    for row in rows:
        if row.unjudged:
            lines.append(f"{row.cell}: {row.unjudged} of {row.searches} searches have a prompt the evaluator "
                         "cannot parse: their verdicts are undecided and accuracy leaves them out")
    return "\n".join(lines)


def _number(value) -> str:
    return "" if value is None else f"{value:.3g}"


def _interval_text(row: CellRow, name: str) -> str:
    interval = row.intervals.get(name)
    return f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""


def comparison_rows(rows: list[CellRow], key: str) -> list[str]:
    """Table rows of every cell's paired comparison under ``key`` (``comparison``: at equal NFEs;
    ``comparison_seconds``: at equal seconds)."""
    found = []
    for row in rows:
        comparison = getattr(row, key)
        if comparison is None:
            continue
        if comparison.skipped:
            found.append(f"<tr><td>{html.escape(row.cell)}</td><td>{html.escape(comparison.reference)}"
                         f"</td><td colspan='5'>{html.escape(comparison.skipped)}</td></tr>")
        for item in comparison.metrics:
            low, high = item.interval or (math.nan, math.nan)
            found.append(
                f"<tr><td>{html.escape(row.cell)}</td><td>{html.escape(comparison.reference)}</td>"
                f"<td>{html.escape(item.metric)}</td><td>{item.difference:+.4f}</td>"
                f"<td>[{low:+.4f}, {high:+.4f}]</td><td>{item.p_value:.3g}</td><td>{item.test}</td></tr>")
    return found


def hacking_section(out: Path, rows: list[CellRow], seed: int = 0) -> str:
    """Reward hacking: the driving verifier against the truth and held-out verifiers along each series' budgets."""
    steps = budget_steps(measured(rows), seed)
    if not steps:
        return ""
    body = []
    for step in steps:
        def text(names: list[str]) -> str:
            return "; ".join(f"{short(n)} {difference_text(step.differences[n])}" for n in names
                             if n in step.differences) or "-"

        flags = step.flags()
        body.append(f"<tr><td>{html.escape(step.series)}</td><td>{step.smaller.nfe_used:.0f} → "
                    f"{step.bigger.nfe_used:.0f}</td><td>{html.escape(text(step.driving))}</td>"
                    f"<td>{html.escape(text(['accuracy']))}</td><td>{html.escape(text(step.held_out))}</td>"
                    f"<td class='{'flag' if flags else ''}'>{html.escape('; '.join(flags)) or '-'}</td></tr>")
    figure = (f'<img id="hacking" src="{_embed(out / "hacking.png")}" alt="verifier score and accuracy against NFEs">'
              if (out / "hacking.png").exists() else "")
    return f"""<h2>Reward hacking</h2>
<p>Each step up in budget of one algorithm, on the same searches: the bigger budget minus the smaller, for the verifier
that drove the search, the ground truth (accuracy) and every held-out verifier, with 95% paired intervals clustered
by prompt and paired tests. A step is flagged where the driving verifier rises while the truth or a held-out
verifier falls (both intervals exclude 0).</p>
{figure}
<table id="hacking-steps"><thead><tr><th>series</th><th>NFEs</th><th>driving verifier</th><th>accuracy</th>
<th>held-out verifiers</th><th>flag</th></tr></thead><tbody>{''.join(body)}</tbody></table>"""


def render_html(out: Path, rows: list[CellRow]) -> str:
    """A single self-contained page: the plots, the table and every cell's grid."""
    names = metric_names(rows)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["cell", "algorithm", "verifier", "NFEs/search", *names])
    body = []
    for row in rows:
        if row.infeasible:
            body.append(f"<tr><td>{html.escape(row.cell)}</td><td colspan='{3 + len(names)}'>infeasible: "
                        f"{html.escape(row.infeasible)}</td></tr>")
            continue
        cells = [row.cell, row.algorithm + (" " + json.dumps(row.algorithm_args) if row.algorithm_args else ""),
                 row.verifier, f"{row.nfe_used:.1f}"]
        cells += [(f"{row.metrics[n]:.4f}" + _interval_text(row, n)
                   + (" *" if n[len("verifier:"):] in row.drove else "")) if n in row.metrics else ""
                  for n in names]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    comparisons, by_seconds = comparison_rows(rows, "comparison"), comparison_rows(rows, "comparison_seconds")
    health_rows = []
    for row in measured(rows):
        found, cost = row.health, row.cost
        taus = ", ".join(f"{html.escape(k)} {v:+.2f}" for k, v in found.kendall_tau.items() if v is not None)
        spent = ", ".join(f"{html.escape(k)} {v:.1f}" for k, v in cost.verifier_s.items())
        health_rows.append(
            f"<tr><td>{html.escape(row.cell)}</td><td>{_number(found.vendi)}</td>"
            f"<td>{_number(found.tie_rate)}</td><td>{taus}</td><td>{_number(cost.wall_s)}</td>"
            f"<td>{_number(cost.denoiser_s)}</td><td>{spent}</td></tr>")
    grids = "".join(
        f"<figure><figcaption>{html.escape(row.cell)}</figcaption>"
        f"<img src='{_embed(out / 'grids' / (row.cell + '.png'))}' alt='{html.escape(row.cell)}'></figure>"
        for row in measured(rows))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>noisesearch study</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
#scaling, #scaling-seconds {{ max-width: 100%; height: auto; display: block; }}
figure {{ display: block; margin: 16px 0 24px; }} figure img {{ image-rendering: pixelated; max-width: 100%; }}
figcaption {{ font-size: 13px; font-weight: 600; margin-bottom: 4px; }}
td.flag {{ color: #b00020; font-weight: 600; }} #hacking {{ max-width: 100%; height: auto; display: block; }}
</style></head>
<body>
<h1>noisesearch study</h1>
<p>{len(rows)} cells ({len(rows) - len(measured(rows))} infeasible). Metrics use the world's evaluator, which search never uses; a verifier score marked *
comes from the verifier that drove that cell's search (expect it to be inflated: verifier hacking).</p>
<h2>Scaling</h2>
<img id="scaling" src="{_embed(out / 'scaling.png')}" alt="metrics against NFEs">
<img id="scaling-seconds" src="{_embed(out / 'scaling_seconds.png')}" alt="metrics against seconds">
<p id="ranking">{html.escape(ranking_note(measured(rows)))}</p>
{hacking_section(out, rows)}
<h2>Results</h2>
<p>Each value with its 95% bootstrap interval clustered by prompt (2000 resamples of the conditions, then of the
searches within each); set-level metrics (FID, IS, precision,
recall, CLIPScore) are point estimates.{unjudged_note(rows)}</p>
<table id="results"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2>Against random search</h2>
<p>Each cell minus random search (same verifiers; any, for the steps baseline) at the nearest NFEs per search, on the
same conditions and seeds: the difference, its 95% paired bootstrap interval clustered by prompt, and a paired test (exact McNemar on
verdicts, Wilcoxon signed-rank on scores).</p>
<table id="comparison"><thead><tr><th>cell</th><th>random cell</th><th>metric</th><th>difference</th>
<th>95% interval</th><th>p</th><th>test</th></tr></thead><tbody>{''.join(comparisons)}</tbody></table>
<p>The same at the nearest wall-clock seconds per search (Flash-BoN's axis: a search that spends fewer NFEs per
second than random search pays for it here).</p>
<table id="comparison-seconds"><thead><tr><th>cell</th><th>random cell</th><th>metric</th><th>difference</th>
<th>95% interval</th><th>p</th><th>test</th></tr></thead><tbody>{''.join(by_seconds)}</tbody></table>
<h2>Verifier health and cost</h2>
<p>Vendi score of each condition's returned samples (effective number of distinct samples), the share of searches
whose two best candidates the driving score ties, Kendall tau over each search's candidates between the driving
score and every other verifier and the evaluator (low or negative: the search exploits its verifier), and seconds.</p>
<table id="health"><thead><tr><th>cell</th><th>Vendi</th><th>tie rate</th><th>Kendall tau with driving</th>
<th>wall s</th><th>denoiser s</th><th>verifier s</th></tr></thead><tbody>{''.join(health_rows)}</tbody></table>
<h2>Samples</h2>
{grids}
<script>
window.addEventListener("load", function () {{
  var width = document.documentElement.clientWidth, overflowing = [];
  document.querySelectorAll("img, table").forEach(function (element) {{
    if (element.getBoundingClientRect().right > width + 1) overflowing.push(element.id || element.tagName);
  }});
  document.body.setAttribute("data-overflowing", overflowing.join(" "));
}});
</script>
</body></html>
"""
