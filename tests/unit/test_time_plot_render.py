"""The plots' own render (plotext's matrix straight to Text) draws what textual-plotext's ANSI round trip draws."""

from __future__ import annotations

from rich.console import Console
from textual_plotext import PlotextPlot

from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.synthetic import synthetic_session
from bottlenecktop.tui.widgets.load_plot import LoadPlot
from bottlenecktop.tui.widgets.resource_plot import ResourcePlot


def _ansi(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, color_system="truecolor", force_terminal=True)
    console.print(renderable)
    return console.export_text(styles=True)


async def test_the_fast_render_matches_textual_plotext() -> None:
    app = BottleneckApp(synthetic_session(40), None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        for plot in (app.query_one(LoadPlot), app.query_one(ResourcePlot)):
            ours, theirs = plot.render(), PlotextPlot.render(plot)
            width = plot.size.width
            # the same cells in the same colours (plotext ends its canvas with one more, empty, line)
            assert str(ours).strip() and _ansi(ours, width).rstrip("\n") == _ansi(theirs, width).rstrip("\n")
