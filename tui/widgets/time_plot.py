"""A plot over session time, sharing one x-range with the other time plots, drawn by tui/plot_canvas.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from bottlenecktop.session import Frame
from bottlenecktop.tui.palette import hex_of, nice_ticks
from bottlenecktop.tui.plot_canvas import RGB, Axis, PlotCanvas
from bottlenecktop.tui.series import Series, downsample

Op = Callable[[PlotCanvas], None]


class TimePlot(Widget):
    """Subclasses implement ``draw`` (lines, columns, points and axes, in the order they stack); ``redraw`` sets
    the data and asks Textual for one repaint, and the first line rendered at a new size draws the canvas.

    No frame, and x ticks only on the lowest plot (``show_x``): at 80x24 every row goes to the data.
    """

    DEFAULT_CSS = "TimePlot { width: 1fr; height: 1fr; }"
    show_x = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ops: list[Op] = []
        self._axes: dict[str, Axis] = {}
        self._drawn: tuple[Sequence[Frame], float, float, str | None, object] | None = None  # redraw's args, size
        self._strips: list[Strip] = []
        self._strips_for: object = None  # the size and data the strips were drawn for

    # -- what subclasses draw with -----------------------------------------------------------------------
    def max_points(self) -> int:
        """About twice the plot's width in cells: more points than that only cost drawing time."""
        return max(20, 2 * (self.size.width or 80))

    def y_axis(self, top: float, side: str) -> None:
        """Round ticks from 0 to ``top`` on ``side``."""
        ticks, labels = nice_ticks(top, 3 if self.size.height < 10 else 5)
        self._axes[side] = Axis(ticks[-1], ticks, labels)

    def vlines(self, xs: Sequence[float], color: RGB) -> None:
        """Vertical lines at ``xs`` down the whole plot, under what is drawn after them."""
        if xs:
            self._ops.append(lambda c: c.columns(xs, color))

    def line(self, series: Series, color: RGB, *, peak: bool = False, yside: str = "left") -> None:
        if series.xs:
            s = downsample(series, self.max_points(), peak=peak)
            self._ops.append(lambda c: c.line(s.xs, s.ys, color, yside))

    def scatter(self, xs: Sequence[float], ys: Sequence[float], color: RGB, marker: str = "x") -> None:
        if xs:
            self._ops.append(lambda c: c.points(xs, ys, color, marker))

    def draw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        raise NotImplementedError

    # -- data and rendering ------------------------------------------------------------------------------
    def redraw(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None = None) -> None:
        """Replace the plot's data with ``frames`` over [x0, x1] session seconds and repaint once."""
        self._set_data(frames, x0, x1, highlight)
        self.refresh()

    def _set_data(self, frames: Sequence[Frame], x0: float, x1: float, highlight: str | None) -> None:
        self._drawn = (frames, x0, x1, highlight, self.size)
        self._ops, self._axes = [], {}
        self.draw(frames, x0, x1, highlight)
        self._strips_for = None

    def _build(self) -> None:
        drawn = self._drawn
        if drawn is not None and drawn[4] != self.size:  # laid out anew since the data was set: rows changed
            self._set_data(*drawn[:4])
        width, height = self.size.width, self.size.height
        x0, x1 = (0.0, 60.0) if drawn is None else (drawn[1], max(drawn[2], drawn[1] + 1))
        canvas = PlotCanvas(width, height, x0, x1, self._axes.get("left", Axis(1.0, [0.0], ["0"])),
                            self._axes.get("right"), (5 if width >= 60 else 3) if self.show_x else 0)
        for op in self._ops:
            op(canvas)
        base = self.rich_style
        styles: dict[RGB | None, Style] = {None: base}
        strips = []
        for runs in canvas.rows_of_runs():
            segments = []
            for text, rgb in runs:
                if rgb is not None and rgb not in styles:
                    styles[rgb] = base + Style(color=hex_of(rgb))
                segments.append(Segment(text, styles[rgb]))
            strips.append(Strip(segments).crop_extend(0, width, base))  # a too-narrow plot is cut to its width
        self._strips, self._strips_for = strips, (self.size, self.show_x)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips_for = None  # a new theme: the drawn lines have the old background

    def render_line(self, y: int) -> Strip:
        if self._strips_for != (self.size, self.show_x):
            self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)
