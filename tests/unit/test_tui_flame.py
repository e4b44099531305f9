"""Pilot tests of the flame graph screen: it opens on the knee's window, the arrows move the selection, enter
drills in, escape backs out and then closes, w takes the next window; compare shows the differential."""

from __future__ import annotations

from textual.widgets import Static

from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.screens.flame import FlameScreen
from bottlenecktop.tui.synthetic import synthetic_session
from bottlenecktop.tui.widgets.flame_graph import FlameGraph


def _text(app: BottleneckApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_flame_screen_drills_down_and_backs_out() -> None:
    app = BottleneckApp(synthetic_session(40, finished=True), mode="replay")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FlameScreen)
        graph = app.screen.query_one(FlameGraph)
        assert "the knee" in _text(app, "#flame-title")
        assert graph.root.count > 0 and not graph.selected
        await pilot.press("down", "down", "down", "down", "down")
        assert graph.selected[-1] == "render_page (app.py)"
        assert "render_page (app.py) · " in _text(app, "#flame-detail")
        await pilot.press("right")  # the next sibling: the socket read of the keep-alive reader
        assert graph.selected[-1] == "handle_one_request (server.py)"
        await pilot.press("enter")
        assert graph.zoom == graph.selected and "in handle_one_request" in _text(app, "#flame-title")
        boxes = graph.boxes()
        assert boxes[0].x0 == 0 and boxes[0].x1 == graph.size.width  # the zoomed frame spans the width
        await pilot.press("escape")
        assert len(graph.zoom) == 4 and isinstance(app.screen, FlameScreen)
        await pilot.press("w")
        assert "w 2/3" in _text(app, "#flame-title")
        while graph.zoom:
            await pilot.press("escape")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FlameScreen)


async def test_compare_opens_the_differential_flame_graph() -> None:
    a, b = synthetic_session(40, finished=True), synthetic_session(40, finished=True)
    app = BottleneckApp(a, mode="compare", compare_with=b)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FlameScreen)
        graph = app.screen.query_one(FlameGraph)
        assert graph.root.delta == 0.0 and "B vs A" in _text(app, "#flame-title")


async def test_no_stacks_is_a_notice_not_a_screen() -> None:
    app = BottleneckApp(synthetic_session(20, mode="observe"), mode="replay")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert not isinstance(app.screen, FlameScreen)
