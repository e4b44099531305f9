"""A plot over session time, sharing one x-range with the other time plots; each owns its plotext state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from plotext import _utility as plotext_utility
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from bottlenecktop.session import Frame
from bottlenecktop.tui.palette import nice_ticks
from bottlenecktop.tui.series import Series, downsample


class TimePlot(PlotextPlot):
    """Subclasses implement ``draw``; ``redraw`` sets the data and asks Textual for one repaint.

    No frame, and x ticks only on the lowest plot (``show_x``): at 80x24 every row goes to the data.
    """

    show_x = True
    _drawn: tuple[Sequence[Frame], float, float, str | None, object] | None = None  # redraw's arguments, its size
    _styles: ClassVar[dict[tuple[object, object, object], Style | None]] = {}  # plotext's (fg, style, bg) -> rich's

    def render(self) -> RenderResult:
        """PlotextPlot.render without the ANSI round trip: plotext writes its matrix as an ANSI string that Rich
        parses back, which was 60 % of a plot's cost (benchmarks/tui_idle_cost.py --modes ramp); here the
        matrix becomes Text directly, one span per run of cells of one colour."""
        drawn = self._drawn
        if drawn is not None and drawn[4] != self.size:  # laid out anew since the data was set: rows changed
            self._set_data(*drawn[:4])  # no refresh: this render is the repaint
        plot: Any = self._plot  # plotext's figure internals (_set_sizes, monitor) have no stubs
        width, height = self.size.width, self.size.height
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        plot._set_sizes()
        plot._build_matrix()
        m = plot.monitor.matrix
        out = Text(no_wrap=True, overflow="crop")
        for row in reversed(m.Rows):
            markers, fg, st, bg = m.marker[row], m.fullground[row], m.style[row], m.background[row]
            start = 0
            for col in range(1, m.cols + 1):
                if col == m.cols or (fg[col], st[col], bg[col]) != (fg[start], st[start], bg[start]):
                    out.append("".join(markers[start:col]), self._style(fg[start], st[start], bg[start]))
                    start = col
            if row:
                out.append("\n")
        return out

    @classmethod
    def _style(cls, fg: object, style: object, bg: object) -> Style | None:
        key = (fg, style, bg)
        if key not in cls._styles:  # plotext's own colour codes, parsed once per colour triple
            ansi = plotext_utility.colors_to_ansi(fg, style, bg)
            spans = Text.from_ansi(ansi + "x").spans
            cls._styles[key] = spans[0].style if spans and isinstance(spans[0].style, Style) else None
        return cls._styles[key]

    def max_points(self) -> int:
        """About twice the plot's width in cells: more points than that only cost build time."""
        return max(20, 2 * (self.size.width or 80))

    def prepare(self, x0: float, x1: float) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.frame(False)
        plt.xlim(x0, max(x1, x0 + 1))
        if self.show_x:
            plt.xfrequency(5 if self.size.width >= 60 else 3)
        else:
            plt.xticks([])


    def y_axis(self, top: float, side: str) -> None:
        """Round ticks from 0 to ``top`` on ``side``: plotext's own labels get cut at the right edge."""
        ticks, labels = nice_ticks(top, 3 if self.size.height < 10 else 5)
        if side == "right":  # plotext drops the last character of right-hand labels
            labels = [label + " " for label in labels]
        # textual-plotext's stub types yside as a float; plotext takes "left" or "right".
        self.plt.ylim(0, ticks[-1], yside=side)  # type: ignore[arg-type]
        self.plt.yticks(ticks, labels, yside=side)  # type: ignore[arg-type]

    def vlines(self, xs: Sequence[float], color: tuple[int, int, int], top: float) -> None:
        """Vertical lines at XS from 0 to TOP on the left axis, drawn as one scatter series of a point per row
        (render draws again when the rows changed since)."""
        rows = max(2, self.size.height)
        if xs and top > 0:
            ys = [top * k / (rows - 1) for k in range(rows)]
            self.plt.scatter([x for x in xs for _ in ys], ys * len(xs), color=color, marker="│")

    def line(self, series: Series, color: str | tuple[int, int, int], *, peak: bool = False,
              marker: str = "hd", yside: str = "left") -> None:
        if series.xs:
            s = downsample(series, self.max_points(), peak=peak)
            self.plt.plot(s.xs, s.ys, color=color, marker=marker, yside=yside)

    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        raise NotImplementedError

    def redraw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None = None) -> None:
        """Replace the plot's data with ``frames`` over [x0, x1] session seconds and repaint once."""
        self._set_data(frames, x0, x1, highlight)
        self.refresh()

    def _set_data(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        self._drawn = (frames, x0, x1, highlight, self.size)
        self.prepare(x0, x1)
        self.draw(frames, x0, x1, highlight)
