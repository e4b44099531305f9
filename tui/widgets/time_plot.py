"""A plot over session time, sharing one x-range with the other time plots; each owns its plotext state."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from bottlenecktop.session import Frame
from bottlenecktop.tui.palette import nice_ticks
from bottlenecktop.tui.series import Series, downsample


class TimePlot(PlotextPlot):
    """Subclasses implement ``draw``; ``redraw`` sets the data and asks Textual for one repaint.

    No frame, and x ticks only on the lowest plot (``show_x``): at 80x24 every row goes to the data.
    """

    show_x = True

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

    def line(self, series: Series, color: str | tuple[int, int, int], *, peak: bool = False,
              marker: str = "hd", yside: str = "left") -> None:
        if series.xs:
            s = downsample(series, self.max_points(), peak=peak)
            self.plt.plot(s.xs, s.ys, color=color, marker=marker, yside=yside)

    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        raise NotImplementedError

    def redraw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None = None) -> None:
        """Replace the plot's data with ``frames`` over [x0, x1] session seconds and repaint once."""
        self.prepare(x0, x1)
        self.draw(frames, x0, x1, highlight)
        self.refresh()
