"""Resources on the load's time axis, all as % (node CPU, busiest thread, memory, disk, network).

The leading finding's resource is drawn bright red and marked in the title; the others stay muted.
"""

from __future__ import annotations

from collections.abc import Sequence

from bottlenecktop.session import Frame
from tui.series import RESOURCE_LINES, extract
from tui.widgets.time_plot import TimePlot

COLORS = {"cpu": "blue", "cpu-thread": "cyan", "memory": "green", "disk": "yellow", "network": "magenta"}
TITLE_COLORS = {"cpu": "dodgerblue", "cpu-thread": "cyan", "memory": "green", "disk": "yellow",
                "network": "magenta"}


class ResourcePlot(TimePlot):
    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        parts = ["resources %"]
        hot = None
        for key, (label, get) in RESOURCE_LINES.items():
            series = extract(frames, label, get)
            if not series.xs:
                continue
            value = f"{series.ys[-1]:.0f}"
            if key == highlight:
                hot = series
                parts.append(f"[bold red]▲ {label} {value}[/]")
            else:
                self.line(series, COLORS[key], peak=True)
                parts.append(f"[{TITLE_COLORS[key]}]━ {label} {value}[/]")
        if hot is not None:  # drawn last so it sits on top of the others
            self.line(hot, "red", peak=True, marker="hd")
        self.plt.ylim(0, 100)
        self.border_title = "  ".join(parts)
