"""The time plots' canvas: where lines, columns, points and ticks land, and the widget that draws it."""

from __future__ import annotations

from rich.cells import cell_len

from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.palette import ACHIEVED, OFFERED, STEP
from bottlenecktop.tui.plot_canvas import AXIS, QUADRANTS, Axis, PlotCanvas, x_ticks
from bottlenecktop.tui.synthetic import synthetic_session
from bottlenecktop.tui.widgets.load_plot import LoadPlot
from bottlenecktop.tui.widgets.resource_plot import ResourcePlot

RED, BLUE = (255, 0, 0), (0, 0, 255)
PCT = Axis(100.0, [0.0, 50.0, 100.0], ["0", "50", "100"])


def _text(canvas: PlotCanvas) -> list[str]:
    return ["".join(text for text, _ in runs) for runs in canvas.rows_of_runs()]


def _colour_at(canvas: PlotCanvas, row: int, col: int) -> tuple[int, int, int] | None:
    at = 0
    for text, rgb in canvas.rows_of_runs()[row]:
        if at <= col < at + len(text):
            return rgb
        at += len(text)
    raise IndexError(col)


def test_a_rising_line_runs_from_the_bottom_left_to_the_top_right_inside_the_labels() -> None:
    c = PlotCanvas(30, 6, 0.0, 60.0, PCT, x_count=3)
    c.line([0.0, 60.0], [0.0, 100.0], RED)
    rows = _text(c)
    assert all(len(r) == 30 for r in rows) and len(rows) == 6
    assert rows[0].startswith("100 ") and rows[2].startswith(" 50 ") and rows[4].startswith("  0 ")
    assert rows[4][4] != " " and rows[4][-1] == " "  # the bottom-left corner is drawn, the bottom-right is not
    assert rows[0][-1] != " " and rows[0][4] == " "
    assert _colour_at(c, 0, 29) == RED and _colour_at(c, 0, 0) == AXIS and _colour_at(c, 2, 0) is None
    assert rows[5].split() == ["0", "30", "60"] and rows[5].index("0") == 4 and rows[5].rstrip().endswith("60")


def test_dots_are_the_quadrants_of_a_cell() -> None:
    c = PlotCanvas(3, 1, 0.0, 1.0, Axis(1.0, [0.0], [""]))  # one row, two columns of data: 4 x 2 dots
    c.line([0.0], [1.0], RED)  # the upper left dot of the first cell
    c.line([1.0], [0.0], BLUE)  # the lower right dot of the last cell
    assert _text(c)[0] == " " + QUADRANTS[1] + QUADRANTS[8]


def test_a_later_series_takes_a_shared_cell_and_columns_stay_under_lines() -> None:
    c = PlotCanvas(24, 4, 0.0, 10.0, PCT)
    c.columns([5.0], STEP)
    c.line([0.0, 10.0], [50.0, 50.0], RED)
    c.line([0.0, 10.0], [50.0, 50.0], BLUE)
    rows = _text(c)
    step_col = next(i for i, ch in enumerate(rows[0]) if ch == "│")
    line_rows = [i for i, r in enumerate(rows) if r[step_col] != "│"]
    assert len(line_rows) == 1  # the step runs down every row but the one the line crosses it in
    assert all(_colour_at(c, i, step_col) == STEP for i in range(len(rows)) if i not in line_rows)
    assert _colour_at(c, line_rows[0], step_col) == BLUE and _colour_at(c, line_rows[0], 6) == BLUE


def test_points_sit_over_lines_and_a_right_axis_has_its_own_scale() -> None:
    c = PlotCanvas(30, 5, 0.0, 10.0, PCT, Axis(8.0, [0.0, 8.0], ["0", "8"]))
    c.line([0.0, 10.0], [0.0, 0.0], RED)
    c.points([5.0], [0.0], BLUE, "x")
    c.line([0.0, 10.0], [8.0, 8.0], BLUE, "right")  # the right axis' top: the first row
    rows = _text(c)
    assert rows[0].endswith(" 8") and rows[-1].endswith(" 0")
    assert "x" in rows[-1] and _colour_at(c, len(rows) - 1, rows[-1].index("x")) == BLUE
    assert set(rows[0][4:-2]) <= {"▀", "▄", "█"} and rows[0][10] != " "


def test_x_ticks_are_round_seconds_inside_the_range() -> None:
    assert x_ticks(0.0, 60.0, 5) == [0, 15, 30, 45, 60]
    assert x_ticks(37.0, 337.0, 5) == [60, 120, 180, 240, 300]
    assert x_ticks(5.0, 5.0, 5) == []


async def test_the_plots_draw_full_width_lines_in_the_series_colours() -> None:
    app = BottleneckApp(synthetic_session(40), None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        for plot in (app.query_one(LoadPlot), app.query_one(ResourcePlot)):
            lines = [plot.render_line(y) for y in range(plot.size.height)]
            assert all(sum(cell_len(seg.text) for seg in s) == plot.size.width for s in lines)
            drawn = "".join(s.text for s in lines)
            assert any(ch in drawn for ch in QUADRANTS[1:])
        colours = {seg.style.color.triplet for y in range(app.query_one(LoadPlot).size.height)
                   for seg in app.query_one(LoadPlot).render_line(y)
                   if seg.style is not None and seg.style.color is not None and seg.style.color.triplet}
        assert {tuple(c) for c in colours} >= {OFFERED, ACHIEVED}


def test_gaps_short_plots_and_a_plot_narrower_than_its_labels() -> None:
    c = PlotCanvas(20, 2, 0.0, 10.0, PCT)  # two rows for three ticks: the bottom row keeps "0"
    c.line([0.0, 2.0, 4.0, 6.0], [10.0, float("nan"), 50.0, 60.0], RED)
    c.points([5.0, 7.0], [float("inf"), 20.0], BLUE)
    rows = _text(c)
    assert rows[1].startswith("  0 ") and rows[0].startswith("100 ")
    assert all(len(r) == 20 for r in rows)
    narrow = PlotCanvas(3, 3, 0.0, 10.0, PCT, Axis(8.0, [0.0, 8.0], ["0", "8"]))
    assert all(len(r) > 3 for r in _text(narrow))  # wider than the widget: the widget cuts each row


async def test_a_plot_narrower_than_its_labels_is_cut_to_its_width() -> None:
    app = BottleneckApp(synthetic_session(40), None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        plot = app.query_one(LoadPlot)
        plot.styles.width = 6
        await pilot.pause()
        assert plot.size.width == 6
        assert all(sum(cell_len(seg.text) for seg in plot.render_line(y)) == 6 for y in range(plot.size.height))
