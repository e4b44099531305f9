"""Resources on the load's time axis, all as % (node CPU, busiest thread, memory, disk, network).

The leading finding's resource is drawn red, last (on top), and marked ▲ in the title; the others keep their
own colours.
"""

from __future__ import annotations

from collections.abc import Sequence

from bottlenecktop.session import Frame
from bottlenecktop.tui import palette as pal
from bottlenecktop.tui.series import RESOURCE_LINES, Series, extract
from bottlenecktop.tui.widgets.time_plot import TimePlot


class ResourcePlot(TimePlot):
    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        parts = ["resources %"]
        hot: Series | None = None
        for key, (label, get) in RESOURCE_LINES.items():
            series = extract(frames, label, get)
            if not series.xs:
                continue
            value = f"{series.ys[-1]:.0f}"
            if key == highlight:
                hot = series
                parts.append(f"[bold {pal.hex_of(pal.HOT)}]▲ {label} {value}[/]")
            else:
                self.line(series, pal.RESOURCES[key], peak=True)
                parts.append(f"[{pal.hex_of(pal.RESOURCES[key])}]━ {label} {value}[/]")
        if hot is not None:
            self.line(hot, pal.HOT, peak=True)
        self.y_axis(100.0, "left")
        self.border_title = "  ".join(parts)
