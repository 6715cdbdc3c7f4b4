"""A small inline-SVG line chart (no script, no CDN): the report's metrics over versions."""

from __future__ import annotations

import html

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def line_chart(labels: list[str], series: dict[str, list[float | None]], *, width: int = 640,
               height: int = 240, y_min: float = 0.0, y_max: float = 1.0) -> str:
    """``series`` (name -> one value or None per label) as polylines over ``labels``."""
    left, right, top, bottom = 44, 120, 12, 36
    w, h = width - left - right, height - top - bottom
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (w * i / (n - 1) if n > 1 else w / 2)

    def y(v: float) -> float:
        return top + h * (1 - (v - y_min) / ((y_max - y_min) or 1))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="metrics over versions" font-family="sans-serif" '
             f'font-size="11">']
    for k in range(5):  # grid and y ticks
        v = y_min + (y_max - y_min) * k / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{v:.2f}</text>')
    for i, label in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{top + h + 16}" text-anchor="middle">'
                     f'{html.escape(label)}</text>')
    for j, (name, values) in enumerate(series.items()):
        colour = COLOURS[j % len(COLOURS)]
        pts = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                         + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for a, b in pts:
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{left + w + 10}" y="{top + 14 + 16 * j}" fill="{colour}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
