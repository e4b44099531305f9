"""Load over time: offered and achieved req/s (left axis), p50 and p99 ms (right axis), steps, errors, marks."""

from __future__ import annotations

from collections.abc import Sequence

from bottlenecktop.session import Frame
from bottlenecktop.tui import palette as pal
from bottlenecktop.tui.series import errors_per_s, extract, mark_times, step_starts
from bottlenecktop.tui.widgets.time_plot import TimePlot


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:,.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}"


class LoadPlot(TimePlot):
    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        offered = extract(frames, "offered", lambda f: None if f.load is None else f.load.offered_rps)
        achieved = extract(frames, "achieved", lambda f: None if f.load is None else f.load.achieved_rps)
        p50 = extract(frames, "p50", lambda f: None if f.load is None else f.load.p50_ms)
        p99 = extract(frames, "p99", lambda f: None if f.load is None else f.load.p99_ms)
        errors = extract(frames, "errors", errors_per_s)
        self.vlines([t for t in step_starts(frames) if x0 <= t <= x1], pal.STEP)
        self.vlines([t for t, _label in mark_times(frames) if x0 <= t <= x1], pal.MARK)
        self.line(offered, pal.OFFERED)
        self.line(achieved, pal.ACHIEVED)
        self.line(p50, pal.P50, yside="right")
        self.line(p99, pal.P99, peak=True, yside="right")
        if any(errors.ys):
            points = [(x, y) for x, y in zip(errors.xs, errors.ys, strict=True) if y > 0]
            self.scatter([p[0] for p in points], [p[1] for p in points], pal.ERRORS, "x")
        self.y_axis(max([*offered.ys, *achieved.ys, *errors.ys], default=0.0), "left")
        self.y_axis(max(p99.ys, default=0.0), "right")
        last = next((f.load for f in reversed(frames) if f.load is not None), None)
        err = 0.0 if not errors.ys else errors.ys[-1]

        def item(rgb: pal.RGB, label: str) -> str:
            return f"[{pal.hex_of(rgb)}]━ {label}[/]"

        parts = [
            "load",
            item(pal.ACHIEVED, "achieved " + _fmt(None if last is None else last.achieved_rps, "/s")),
            item(pal.OFFERED, "offered " + _fmt(None if last is None else last.offered_rps, "/s")),
            item(pal.P50, "p50 " + _fmt(None if last is None else last.p50_ms, "ms")),
            item(pal.P99, "p99 " + _fmt(None if last is None else last.p99_ms, "ms")),
        ]
        if err:
            parts.append(f"[{pal.hex_of(pal.ERRORS)}]x errors {err:,.0f}/s[/]")
        self.border_title = "  ".join(parts)
