"""A time plot drawn into a grid of terminal cells: lines in quadrant blocks (2x2 dots a cell), column markers,
point markers, y ticks on either side and x ticks below. Pure, and cheap enough to draw every tick.

Why not plotext: its per-tick build of the two plots was half of the app's own CPU during a ramp (py-spy of
`benchmarks/tui_idle_cost.py --modes ramp`); this draws the same picture in about a tenth of the time
(`benchmarks/plot_canvas_cost.py`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RGB = tuple[int, int, int]
Run = tuple[str, RGB | None]  # text and its colour (None: the widget's own)

# The quadrant block for each set of dots: bit 1 upper left, 2 upper right, 4 lower left, 8 lower right.
QUADRANTS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"
AXIS: RGB = (170, 170, 170)  # tick labels: readable on dark and light themes, quieter than the lines


@dataclass(frozen=True)
class Axis:
    """A y axis from 0 to ``top`` with labelled ticks."""

    top: float
    ticks: Sequence[float]
    labels: Sequence[str]

    @property
    def scale(self) -> float:
        """What y values are divided by: the top, or 1 for an axis with nothing above 0."""
        return self.top if self.top > 0 else 1.0


def x_ticks(x0: float, x1: float, count: int) -> list[float]:
    """About ``count`` round ticks over [x0, x1] seconds, at multiples of 1, 2, 5, 10, 15, 30, 60 s and so on:
    the step whose tick count comes closest to ``count`` without going over it, unless that leaves one tick."""
    span = x1 - x0
    if span <= 0 or count < 2:
        return []
    steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]
    steps += [3600 * k for k in range(2, math.ceil(span / 3600) + 2)]
    best: list[float] = []
    for step in steps:
        first = math.ceil(x0 / step - 1e-9) * step
        ticks: list[float] = [first + i * step for i in range(int((x1 - first) / step + 1e-9) + 1)]
        if len(ticks) <= count:
            return ticks if len(ticks) >= 2 or not best else best
        best = ticks
    return best


class PlotCanvas:
    """Cells ``width`` x ``height``: the y labels take columns at the sides, the x labels the last row."""

    def __init__(self, width: int, height: int, x0: float, x1: float, left: Axis, right: Axis | None = None,
                 x_count: int = 0) -> None:
        self.width, self.height = max(1, width), max(1, height)
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1.0
        self.left, self.right = left, right
        self.lw = max((len(s) for s in left.labels), default=0) + 1
        self.rw = 0 if right is None else max((len(s) for s in right.labels), default=0) + 1
        self.x_count = x_count
        self.rows = max(1, self.height - (1 if x_count else 0))
        self.cols = max(1, self.width - self.lw - self.rw)
        n = self.rows * self.cols
        self._mask = [0] * n  # quadrant dots per cell, of the cell's colour
        self._colour: list[RGB | None] = [None] * n
        self._marker: list[str | None] = [None] * n  # a whole-cell character instead of dots

    def _sx(self, x: float) -> int:
        return round((x - self.x0) / (self.x1 - self.x0) * (2 * self.cols - 1))

    def _sy(self, y: float, axis: Axis) -> int:
        return round(min(max(y / axis.scale, 0.0), 1.0) * (2 * self.rows - 1))

    def _axis(self, yside: str) -> Axis:
        return self.right if yside == "right" and self.right is not None else self.left

    def _paint(self, dots: set[tuple[int, int]], rgb: RGB) -> None:
        """Dots (x, y from the bottom left, 2 a cell each way) in one colour: a later series takes a cell."""
        w2, h2, cols, top_row = 2 * self.cols, 2 * self.rows, self.cols, self.rows - 1
        bits: dict[int, int] = {}
        for sx, sy in dots:
            if 0 <= sx < w2 and 0 <= sy < h2:
                cell = (top_row - (sy >> 1)) * cols + (sx >> 1)
                bits[cell] = bits.get(cell, 0) | ((1 if sy & 1 else 4) << (sx & 1))
        colour, mask, marker = self._colour, self._mask, self._marker
        for cell, b in bits.items():
            if colour[cell] != rgb or marker[cell] is not None:
                colour[cell], mask[cell], marker[cell] = rgb, b, None
            else:
                mask[cell] |= b

    def line(self, xs: Sequence[float], ys: Sequence[float], rgb: RGB, yside: str = "left") -> None:
        """Points joined by straight lines, in quadrant dots; a NaN or inf breaks the line."""
        axis = self._axis(yside)
        if all(map(math.isfinite, ys)) and all(map(math.isfinite, xs)):  # the usual case, at C speed
            self._joined(xs, ys, rgb, axis)
            return
        run: list[tuple[float, float]] = []
        for x, y in [*zip(xs, ys, strict=True), (math.nan, math.nan)]:
            if math.isfinite(x) and math.isfinite(y):
                run.append((x, y))
            elif run:
                self._joined([p[0] for p in run], [p[1] for p in run], rgb, axis)
                run = []

    def _joined(self, xs: Sequence[float], ys: Sequence[float], rgb: RGB, axis: Axis) -> None:
        if not xs:
            return
        top = axis.scale
        x0, kx, ky = self.x0, (2 * self.cols - 1) / (self.x1 - self.x0), (2 * self.rows - 1) / top
        sxs = [round((x - x0) * kx) for x in xs]
        sys_ = [round((y if 0.0 <= y <= top else 0.0 if y < 0.0 else top) * ky) for y in ys]
        px, py = sxs[0], sys_[0]
        dots = {(px, py)}
        add = dots.add
        for sx, sy in zip(sxs, sys_, strict=True):
            dx, dy = sx - px, sy - py
            if -1 <= dx <= 1 and -1 <= dy <= 1:
                add((sx, sy))
            else:
                steps = max(abs(dx), abs(dy))
                for k in range(1, steps + 1):
                    add((px + round(dx * k / steps), py + round(dy * k / steps)))
            px, py = sx, sy
        self._paint(dots, rgb)

    def columns(self, xs: Sequence[float], rgb: RGB, marker: str = "│") -> None:
        """A marker down every row at each x (the ramp's steps): under what is drawn after it."""
        for x in xs:
            col = self._sx(x) // 2
            if 0 <= col < self.cols:
                for row in range(self.rows):
                    cell = row * self.cols + col
                    self._marker[cell], self._colour[cell], self._mask[cell] = marker, rgb, 0

    def points(self, xs: Sequence[float], ys: Sequence[float], rgb: RGB, marker: str = "x",
               yside: str = "left") -> None:
        """A marker in the cell of each point, over what was drawn before it."""
        axis = self._axis(yside)
        for x, y in zip(xs, ys, strict=True):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            col, row = self._sx(x) // 2, self.rows - 1 - self._sy(y, axis) // 2
            if 0 <= col < self.cols:
                cell = row * self.cols + col
                self._marker[cell], self._colour[cell], self._mask[cell] = marker, rgb, 0

    def _tick_rows(self, axis: Axis) -> dict[int, str]:
        """Row -> label; on a plot too short for every tick, the row keeps the lowest tick that lands on it."""
        rows: dict[int, str] = {}
        for t, label in zip(axis.ticks, axis.labels, strict=True):
            rows.setdefault(self.rows - 1 - round(min(t / axis.scale, 1.0) * (self.rows - 1)), label)
        return rows

    def rows_of_runs(self) -> list[list[Run]]:
        """Each row as runs of text of one colour, ``width`` cells wide; blanks are runs of their own (an SVG
        export would squeeze spaces inside a run of text)."""
        left = self._tick_rows(self.left)
        right = {} if self.right is None else self._tick_rows(self.right)
        out: list[list[Run]] = []
        cols, quadrants = self.cols, QUADRANTS
        for row in range(self.rows):
            label = left.get(row, "")
            runs: list[Run] = [*_blank_then(self.lw - 1 - len(label), label), (" ", None)]
            base = row * cols
            masks, markers = self._mask[base:base + cols], self._marker[base:base + cols]
            chars = [quadrants[m] if k is None else k for m, k in zip(masks, markers, strict=True)]
            shown = [c if m or k is not None else None
                     for c, m, k in zip(self._colour[base:base + cols], masks, markers, strict=True)]
            start = 0
            for cut in [i for i in range(1, cols) if shown[i] != shown[i - 1]] + [cols]:
                runs.append(("".join(chars[start:cut]), shown[start]))
                start = cut
            if self.rw:
                label = right.get(row, "")
                runs += [(" ", None), (label, AXIS), (" " * (self.rw - 1 - len(label)), None)]
            out.append([r for r in runs if r[0]])
        if self.x_count:
            out.append(self._x_labels())
        return out

    def _x_labels(self) -> list[Run]:
        runs: list[Run] = []
        end = 0  # the first column after the last label: labels never touch
        for t in x_ticks(self.x0, self.x1, self.x_count):
            label = f"{t:g}"
            at = self.lw + self._sx(t) // 2 - len(label) // 2
            at = min(max(at, self.lw), self.lw + self.cols - len(label))
            if at > end or not runs:
                runs += _blank_then(at - end, label)
                end = at + len(label)
        return runs + _blank_then(self.width - end, "")


def _blank_then(blanks: int, text: str) -> list[Run]:
    """Blanks in the widget's colour, then a tick label in the axis colour: two runs, so that an SVG export
    places the label by its column instead of after squeezed spaces."""
    return [r for r in ((" " * max(0, blanks), None), (text, AXIS)) if r[0]]
