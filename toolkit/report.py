"""A study's outputs: results.json, results.csv, scaling.png, per-cell grids and a self-contained report.html."""

from __future__ import annotations

import base64
import csv
import html
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOWER_IS_BETTER = {"fid"}


def measured(rows: list[dict]) -> list[dict]:
    """Rows of cells that ran (infeasible budgets have no samples)."""
    return [row for row in rows if not row.get("infeasible")]


def metric_names(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(name for row in rows for name in row["metrics"]))


def write_outputs(out: Path, rows: list[dict]) -> None:
    """Write every output of a study into ``out``."""
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    names = metric_names(rows)
    with open(out / "results.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["cell", "algorithm", "algorithm_args", "verifier", "budget_nfe", "nfe_used", "steps",
                         "searches", *names])
        for row in rows:
            writer.writerow([row["cell"], row["algorithm"], json.dumps(row["algorithm_args"]), row["verifier"],
                             row["budget_nfe"], "" if row["nfe_used"] is None else f"{row['nfe_used']:.1f}",
                             row["steps"], row["searches"],
                             *[row["metrics"].get(name, "") for name in names]])
    grids = out / "grids"
    grids.mkdir(exist_ok=True)
    for row in measured(rows):
        shutil.copyfile(out / "cells" / row["cell"] / "grid.png", grids / f"{row['cell']}.png")
    plot_scaling(measured(rows), out / "scaling.png")
    (out / "report.html").write_text(render_html(out, rows))


def plot_scaling(rows: list[dict], path: Path) -> None:
    """Each metric against NFEs per search (log x): a line per algorithm and verifier, the steps baseline dashed."""
    names = metric_names(rows)
    columns = min(3, len(names))
    lines = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(5 * columns, 3.6 * lines), squeeze=False)
    series: dict[str, list[dict]] = {}
    for row in rows:
        label = "more denoising steps (no search)" if row["baseline"] else f"{row['algorithm']} / {row['verifier']}"
        series.setdefault(label, []).append(row)
    colours = {label: f"C{i}" for i, label in enumerate(series)}
    for axis, name in zip(axes.flat, names):
        for label, members in series.items():
            points = sorted((r["nfe_used"], r["metrics"][name]) for r in members if name in r["metrics"])
            if points:
                style = "--" if members[0]["baseline"] else "-"
                axis.plot(*zip(*points), style, marker="o", label=label, color=colours[label])
        axis.set_xscale("log")
        axis.set_xlabel("NFEs per search (total)")
        note = " (lower is better)" if name in LOWER_IS_BETTER else ""
        if name.startswith("verifier:") and any(name[len("verifier:"):] in r["drove"] for r in rows):
            note = " (drives the search)"
        axis.set_title(name + note)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    from matplotlib.lines import Line2D

    labels = list(series)
    handles = [Line2D([], [], color=colours[label], marker="o", linestyle="--" if series[label][0]["baseline"]
                      else "-") for label in labels]
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def format_rows(rows: list[dict]) -> str:
    """The summary table printed on stdout."""
    names = metric_names(rows)
    header = f"{'cell':<44} {'nfe':>7} " + " ".join(f"{n[:18]:>18}" for n in names)
    lines = [header]
    for row in rows:
        if row.get("infeasible"):
            lines.append(f"{row['cell'][:44]:<44} {'-':>7} infeasible: the budget cannot pay for one round")
            continue
        values = " ".join(f"{row['metrics'][n]:>18.4f}" if n in row["metrics"] else f"{'':>18}" for n in names)
        lines.append(f"{row['cell'][:44]:<44} {row['nfe_used']:>7.1f} {values}")
    return "\n".join(lines)


def render_html(out: Path, rows: list[dict]) -> str:
    """A single self-contained page: the plots, the table and every cell's grid."""
    names = metric_names(rows)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["cell", "algorithm", "verifier", "NFEs/search", *names])
    body = []
    for row in rows:
        if row.get("infeasible"):
            body.append(f"<tr><td>{html.escape(row['cell'])}</td><td colspan='{3 + len(names)}'>infeasible: "
                        f"{html.escape(row['infeasible'])}</td></tr>")
            continue
        cells = [row["cell"], row["algorithm"] + (" " + json.dumps(row["algorithm_args"]) if row["algorithm_args"]
                                                  else ""), row["verifier"], f"{row['nfe_used']:.1f}"]
        cells += [(f"{row['metrics'][n]:.4f}" + (" *" if n[len("verifier:"):] in row["drove"] else ""))
                  if n in row["metrics"] else "" for n in names]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    grids = "".join(
        f"<figure><img src='{_embed(out / 'grids' / (row['cell'] + '.png'))}' alt='{html.escape(row['cell'])}'>"
        f"<figcaption>{html.escape(row['cell'])}</figcaption></figure>" for row in measured(rows))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>noisesearch study</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
#scaling {{ max-width: 100%; }}
figure {{ display: inline-block; margin: 8px; }} figure img {{ image-rendering: pixelated; max-width: 420px; }}
figcaption {{ font-size: 12px; }}
</style></head>
<body>
<h1>noisesearch study</h1>
<p>{len(rows)} cells ({len(rows) - len(measured(rows))} infeasible). Metrics use the world's evaluator, which search never uses; a verifier score marked *
comes from the verifier that drove that cell's search (expect it to be inflated: verifier hacking).</p>
<h2>Scaling</h2>
<img id="scaling" src="{_embed(out / 'scaling.png')}" alt="metrics against NFEs">
<h2>Results</h2>
<table id="results"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2>Samples</h2>
{grids}
</body></html>
"""
