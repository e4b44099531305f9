"""A plot over session time, sharing one x-range with the other time plots; each owns its plotext state."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from bottlenecktop.session import Frame
from tui.series import Series, downsample


class TimePlot(PlotextPlot):
    """Subclasses implement ``draw``; ``redraw`` sets the data and asks Textual for one repaint."""

    def max_points(self) -> int:
        """About twice the plot's width in cells: more points than that only cost build time."""
        return max(20, 2 * (self.size.width or 80))

    def prepare(self, x0: float, x1: float) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlim(x0, max(x1, x0 + 1))
        plt.xfrequency(5 if self.size.width >= 60 else 3)

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
