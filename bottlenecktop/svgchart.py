"""Small inline SVG charts for self-contained HTML reports (no script, no network, no library): line charts on
rounded axes with the ramp's steps shaded and the knee, the magic number and the SLO marked, and a latency
heatmap (latency bands by second), and icicles (flame graphs) of boxes laid out elsewhere."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

Series = tuple[str, Sequence[float], Sequence[float]]  # (name, xs, ys)

# Colours that mean something: what was asked in grey, what was served in green, latency in blue (p50) and
# orange (p99), limits in red, the knee in purple.
COLORS = {"offered": "#8c8c8c", "achieved": "#2ca02c", "p50": "#1f77b4", "p99": "#ff7f0e", "node": "#9467bd",
          "target": "#d62728"}
FALLBACK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
LIMIT = "#d62728"
KNEE = "#7b3294"


@dataclass(frozen=True)
class Band:
    """A shaded span of x (a ramp step); ``bad`` steps (not sustained) are tinted."""

    x0: float
    x1: float
    bad: bool = False


@dataclass(frozen=True)
class Mark:
    """A labelled line across the chart: vertical at x (``vertical``) or horizontal at y."""

    at: float
    label: str
    color: str = LIMIT
    vertical: bool = False


def _nice(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:,.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi], about ``n`` of them."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = [round(first, 10)]
    while ticks[-1] < hi - step * 1e-9 and len(ticks) < 4 * n:  # up to the first tick at or above hi
        ticks.append(round(first + len(ticks) * step, 10))
    return ticks


def _color(name: str, i: int) -> str:
    key = name.split()[0].lower()
    return COLORS.get(key, FALLBACK[i % len(FALLBACK)])


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str, width: int = 640,
               height: int = 240, bands: Sequence[Band] = (), marks: Sequence[Mark] = ()) -> str:
    """One chart as an ``<svg>`` element: a polyline per series on rounded axes with grid lines, shaded
    ``bands`` and labelled ``marks``, a legend. An empty-state SVG says "no data" when no series has points."""
    pad_l, pad_r, pad_t, pad_b = 64, 12, 28, 38
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=False)]
    esc = html.escape
    head = (f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<title>{esc(title)}</title>'
            f'<text x="{pad_l}" y="18" font-size="13" font-weight="bold">{esc(title)}</text>')
    if not pts:
        return head + f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle">no data</text></svg>'
    ys_all = [p[1] for p in pts] + [m.at for m in marks if not m.vertical]
    xticks = nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts))
    yticks = nice_ticks(min(0.0, min(ys_all)), max(ys_all))
    x0, x1, y0, y1 = xticks[0], xticks[-1], yticks[0], yticks[-1]
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    parts = [head]
    for k, b in enumerate(bands):
        left, right = max(sx(b.x0), pad_l), min(sx(b.x1), pad_l + pw)
        if right > left:
            fill = "#fbe3e3" if b.bad else ("#eef3f8", "#dde7f1")[k % 2]  # alternate: each step shows
            parts.append(f'<rect class="step" x="{left:.1f}" y="{pad_t}" width="{right - left:.1f}" height="{ph}" '
                         f'fill="{fill}"/>')
    for t in yticks:
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e5e5"/>'
                     f'<text class="tick" x="{pad_l - 4}" y="{sy(t) + 4:.1f}" font-size="11" text-anchor="end">'
                     f'{_nice(t)}</text>')
    for t in xticks:
        parts.append(f'<text class="tick" x="{sx(t):.1f}" y="{pad_t + ph + 14}" font-size="11" '
                     f'text-anchor="middle">{_nice(t)}</text>')
    parts += [f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
              f'<text x="{pad_l + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{esc(x_label)}</text>',
              f'<text x="12" y="{pad_t + ph / 2}" font-size="11" text-anchor="middle" '
              f'transform="rotate(-90 12 {pad_t + ph / 2})">{esc(y_label)}</text>']
    for i, (name, xs, ys) in enumerate(series):
        color = _color(name, i)
        dash = ' stroke-dasharray="4 3"' if name.split()[0].lower() == "offered" else ""
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=False))
        if coords:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{coords}"/>')
    for m in marks:
        if m.vertical and x0 <= m.at <= x1:
            x = sx(m.at)
            parts.append(f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + ph}" '
                         f'stroke="{m.color}" stroke-dasharray="3 3"/><text x="{x + 3:.1f}" y="{pad_t + ph - 4}" '
                         f'font-size="11" fill="{m.color}">{esc(m.label)}</text>')
        elif not m.vertical and y0 <= m.at <= y1:
            y = sy(m.at)
            parts.append(f'<line class="mark" x1="{pad_l}" x2="{pad_l + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="{m.color}" stroke-dasharray="6 3"/><text x="{pad_l + pw - 4}" y="{y - 3:.1f}" '
                         f'font-size="11" text-anchor="end" fill="{m.color}">{esc(m.label)}</text>')
    legend_x = pad_l + 8
    for i, (name, _, _) in enumerate(series):
        parts.append(f'<text x="{legend_x}" y="{pad_t + 14 + 14 * i}" font-size="11" fill="{_color(name, i)}">'
                     f'{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(title: str, columns: Sequence[tuple[float, float, Sequence[float]]], rows: Sequence[str],
            x_label: str, width: int = 640, height: int = 240, marks: Sequence[Mark] = ()) -> str:
    """Cells shaded by share (0..1): ``columns`` are (x from, x to, one share per row), rows bottom-up; ``marks``
    are horizontal lines at a row position (0 = the bottom edge, len(rows) = the top) or vertical ones at x."""
    pad_l, pad_r, pad_t, pad_b = 64, 12, 28, 38
    esc = html.escape
    head = (f'<svg class="chart heatmap" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>'
            f'<text x="{pad_l}" y="18" font-size="13" font-weight="bold">{esc(title)}</text>')
    if not columns or not rows:
        return head + f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle">no data</text></svg>'
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    xticks = nice_ticks(min(c[0] for c in columns), max(c[1] for c in columns))
    x0, x1 = xticks[0], xticks[-1]
    rh = ph / len(rows)

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * pw

    parts = [head, f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>']
    for a, b, shares in columns:
        for r, share in enumerate(shares):
            if share <= 0:
                continue
            # White to dark red by share; a faint floor so that a few requests still show.
            alpha = 0.08 + 0.92 * min(1.0, share)
            parts.append(f'<rect class="cell" x="{sx(a):.1f}" y="{pad_t + ph - (r + 1) * rh:.1f}" '
                         f'width="{max(sx(b) - sx(a), 0.5):.1f}" height="{rh:.1f}" fill="#b2182b" '
                         f'fill-opacity="{alpha:.2f}"/>')
    for r, label in enumerate(rows):
        parts.append(f'<text class="tick" x="{pad_l - 4}" y="{pad_t + ph - r * rh - rh / 2 + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{esc(label)}</text>')
    for t in xticks:
        parts.append(f'<text class="tick" x="{sx(t):.1f}" y="{pad_t + ph + 14}" font-size="11" '
                     f'text-anchor="middle">{_nice(t)}</text>')
    parts.append(f'<text x="{pad_l + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 f'{esc(x_label)}</text>')
    for m in marks:
        if m.vertical:
            x = sx(m.at)
            parts.append(f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + ph}" '
                         f'stroke="{m.color}" stroke-dasharray="3 3"/>')
        else:
            y = pad_t + ph - m.at * rh
            parts.append(f'<line class="mark" x1="{pad_l}" x2="{pad_l + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="{m.color}" stroke-dasharray="6 3"/><text x="{pad_l + pw - 4}" y="{y - 3:.1f}" '
                         f'font-size="11" text-anchor="end" fill="{m.color}">{esc(m.label)}</text>')
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


@dataclass(frozen=True)
class IcicleBox:
    """One box of an icicle: columns [x0, x1) of ``width`` columns, row ``depth`` (0 on top)."""

    depth: int
    x0: float
    x1: float
    label: str
    color: str
    tooltip: str


ICICLE_ROW = 17  # px per row: 11 px text with room around it
ICICLE_CHAR = 6.6  # px per character of the 11 px label, to cut labels to their box


def icicle(title: str, boxes: Sequence[IcicleBox], columns: int, note: str = "", width: int = 960) -> str:
    """An icicle of BOXES (laid out on COLUMNS columns), scaled to WIDTH px; each box says what it is on hover
    (its <title>), and carries its label where it is wide enough."""
    esc = html.escape
    depth = max((b.depth for b in boxes), default=0) + 1
    top = 40 if note else 26
    height = top + depth * ICICLE_ROW + 6
    scale = width / max(columns, 1)
    parts = [f'<svg class="chart icicle" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>'
             f'<text x="0" y="18" font-size="13" font-weight="bold">{esc(title)}</text>']
    if note:
        parts.append(f'<text x="0" y="33" font-size="11" fill="#555">{esc(note)}</text>')
    for b in boxes:
        x, w, y = b.x0 * scale, max((b.x1 - b.x0) * scale - 0.5, 0.5), top + b.depth * ICICLE_ROW
        chars = int((w - 4) / ICICLE_CHAR)
        label = b.label if len(b.label) <= chars else (b.label[:chars - 1] + "…" if chars > 2 else "")
        parts.append(f'<g class="frame"><title>{esc(b.tooltip)}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
                     f'height="{ICICLE_ROW - 1}" fill="{b.color}"/>'
                     + (f'<text x="{x + 2:.1f}" y="{y + 12}" font-size="11">{esc(label)}</text>' if label else "")
                     + "</g>")
    parts.append("</svg>")
    return "".join(parts)
