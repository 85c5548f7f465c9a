"""A search drawn as its lineage: candidates by noise level, edges from the journaled parents (Ma et al. 2025, §3.2).

One column per noise level a candidate stopped at (the highest on the left, finished samples at sigma 0 on the
right); within a column the best aggregate is on top. Edges run from a candidate's kept state (``start``) and its
``parents`` (SMC resampling, beam branches, paths' re-noisings, zero-order pivots, evolution's elites, halving's
rungs) to it; an edge within one column (a finished sample re-noised and solved again) is drawn as an arc.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

STEP_X, STEP_Y, MARGIN, RADIUS = 150, 16, 28, 5


@dataclass
class Node:
    """One candidate: its id, the level it stopped at, its rank among its level's candidates (0 = best), its score
    in [0, 1] for the colour, its parents, and a tooltip."""

    id: int
    level: float
    rank: int
    shade: float
    parents: list[int] = field(default_factory=list)
    title: str = ""
    chosen: bool = False


VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))  # colour-blind safe


def colour(shade: float) -> str:
    """Viridis from dark purple (worst of its level) to yellow (best): readable with any colour vision."""
    position = min(1.0, max(0.0, shade)) * (len(VIRIDIS) - 1)
    low = min(int(position), len(VIRIDIS) - 2)
    t = position - low
    red, green, blue = (round(a + (b - a) * t) for a, b in zip(VIRIDIS[low], VIRIDIS[low + 1]))
    return f"rgb({red},{green},{blue})"


def legend() -> str:
    """The colour scale and the chosen ring, as an inline SVG."""
    stops = "".join(f'<stop offset="{i / (len(VIRIDIS) - 1):.2f}" stop-color="rgb{rgb}"/>'
                    for i, rgb in enumerate(VIRIDIS))
    return ('<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="360" height="30" role="img" '
            'aria-label="legend"><defs><linearGradient id="viridis">' + stops + '</linearGradient></defs>'
            '<rect x="0" y="4" width="120" height="10" fill="url(#viridis)"/>'
            '<text x="0" y="27" class="level">worst</text><text x="92" y="27" class="level">best</text>'
            '<text x="128" y="13" class="level">of the candidates at its level</text>'
            f'<circle cx="300" cy="9" r="{RADIUS + 2}" fill="#ccc" class="chosen"/>'
            '<text x="312" y="13" class="level">chosen</text></svg>')


def level_label(level: float) -> str:
    return "finished (σ = 0)" if level == 0 else f"σ = {level:.3g}"


def draw(nodes: list[Node]) -> str:
    """The lineage of one search as an SVG element (sized to its content)."""
    levels = sorted({node.level for node in nodes}, reverse=True)
    column = {level: i for i, level in enumerate(levels)}
    position = {node.id: (MARGIN + column[node.level] * STEP_X, MARGIN + 14 + node.rank * STEP_Y) for node in nodes}
    width = MARGIN * 2 + (len(levels) - 1) * STEP_X + 60
    height = MARGIN * 2 + 14 + max([node.rank for node in nodes] + [0]) * STEP_Y
    parts = [f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage of {len(nodes)} candidates">']
    for level in levels:
        x = MARGIN + column[level] * STEP_X
        parts.append(f'<text x="{x}" y="{MARGIN - 8}" class="level">{html.escape(level_label(level))}</text>')
    for node in nodes:
        x2, y2 = position[node.id]
        for parent in node.parents:
            if parent not in position:
                continue
            x1, y1 = position[parent]
            if x1 == x2:
                bend = x1 + 20 + abs(y2 - y1) / 6
                path = f"M{x1},{y1} C{bend},{y1} {bend},{y2} {x2},{y2}"
            else:
                middle = (x1 + x2) / 2
                path = f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
            parts.append(f'<path class="edge" data-from="{parent}" data-to="{node.id}" d="{path}"/>')
    for node in nodes:
        x, y = position[node.id]
        ring = ' class="chosen"' if node.chosen else ""
        parts.append(f'<circle cx="{x}" cy="{y}" r="{RADIUS + (2 if node.chosen else 0)}" fill="{colour(node.shade)}"'
                     f'{ring} data-id="{node.id}"><title>{html.escape(node.title)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
