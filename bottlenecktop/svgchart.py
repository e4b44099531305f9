"""Small inline SVG line charts for self-contained HTML reports (no script, no network, no library)."""

from __future__ import annotations

import html
from collections.abc import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
Series = tuple[str, Sequence[float], Sequence[float]]  # (name, xs, ys)


def _nice(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str,
               width: int = 640, height: int = 220) -> str:
    """One chart as an ``<svg>`` element: a polyline per series, axes with min/max ticks, a legend.

    Returns an empty-state SVG saying "no data" when no series has points."""
    pad_l, pad_r, pad_t, pad_b = 64, 12, 28, 36
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=False)]
    esc = html.escape
    head = (f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<title>{esc(title)}</title>'
            f'<text x="{pad_l}" y="18" font-size="13" font-weight="bold">{esc(title)}</text>')
    if not pts:
        return head + f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle">no data</text></svg>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(0.0, min(p[1] for p in pts)), max(p[1] for p in pts)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    parts = [head,
             f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 4}" font-size="11" text-anchor="end">{_nice(y1)}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + ph}" font-size="11" text-anchor="end">{_nice(y0)}</text>',
             f'<text x="{pad_l}" y="{height - 20}" font-size="11">{_nice(x0)}</text>',
             f'<text x="{pad_l + pw}" y="{height - 20}" font-size="11" text-anchor="end">{_nice(x1)}</text>',
             f'<text x="{pad_l + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{esc(x_label)}</text>',
             f'<text x="12" y="{pad_t + ph / 2}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 12 {pad_t + ph / 2})">{esc(y_label)}</text>']
    legend_x = pad_l + 8
    for i, (name, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=False))
        if coords:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        parts.append(f'<text x="{legend_x}" y="{pad_t + 14 + 14 * i}" font-size="11" fill="{color}">'
                     f'{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line text plot (block characters) of ``values``, resampled to at most ``width`` characters."""
    if not values:
        return ""
    if len(values) > width:
        n = len(values)
        values = [max(values[i * n // width:(i + 1) * n // width] or [0.0]) for i in range(width)]
    lo, hi = min(values), max(values)
    blocks = "▁▂▃▄▅▆▇█"
    if hi <= lo:
        return blocks[0] * len(values)
    return "".join(blocks[min(7, int((v - lo) / (hi - lo) * 8))] for v in values)
