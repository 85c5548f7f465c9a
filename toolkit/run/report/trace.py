"""An algorithm's own account of a search in report.html: SMC's ESS and distinct survivors at each weighed level."""

from __future__ import annotations

import html
from typing import Optional

NOTE = "ESS (left bar) and distinct survivors (right bar) at each weighed level; * marks a level not resampled."


def resampling_chart(levels: list[dict], k: int) -> str:
    """Bars per weighed level: the weights' ESS and the distinct particles that survived, both out of k."""
    width, height, left, bottom, top = 40 + 46 * len(levels), 150, 30, 30, 14
    span = height - bottom - top
    parts = [f'<svg class="resampling" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="ESS and survivors per level">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" class="frame"/>',
             f'<text x="{left - 4}" y="{top + 4}" class="axis" text-anchor="end">{k}</text>',
             f'<text x="{left - 4}" y="{height - bottom + 4}" class="axis" text-anchor="end">0</text>']
    for i, entry in enumerate(levels):
        x = left + 8 + 46 * i
        for offset, value, kind in ((0, entry["ess"], "ess"), (18, entry["survivors"], "survivors")):
            bar = span * min(value, k) / k
            parts.append(f'<rect x="{x + offset}" y="{height - bottom - bar:.1f}" width="16" height="{bar:.1f}" '
                         f'class="{kind}" data-value="{value}"><title>level {entry["level"]}: {kind} {value:.3g} '
                         f'of {k}</title></rect>')
        mark = "" if entry["resampled"] else "*"
        parts.append(f'<text x="{x + 17}" y="{height - bottom + 14}" class="axis" text-anchor="middle">'
                     f'{entry["level"]}{mark}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trace_section(trace: Optional[dict]) -> str:
    """The section of a search whose algorithm reported resampling levels (SMC), else nothing."""
    if not trace or not trace.get("levels"):
        return ""
    k, levels = trace["k"], trace["levels"]
    rows = "".join(f"<tr><td>{entry['level']}</td><td>{entry['ess']:.3g}</td>"
                   f"<td>{'yes' if entry['resampled'] else 'no (ESS above the threshold)'}</td>"
                   f"<td>{entry['survivors']}</td></tr>" for entry in levels)
    return (f"<h3>Resampling: {k} particles</h3><div class='row'>{resampling_chart(levels, k)}"
            f"<table class='resampling'><tr><th>level</th><th>ESS of {k}</th><th>resampled</th>"
            f"<th>distinct survivors</th></tr>{rows}</table></div>"
            f"<p class='note'>{html.escape(NOTE)}</p>")
