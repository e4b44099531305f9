"""Pilot tests: each key and the state it changes, with a fake Controller (the screen's boundary)."""

from __future__ import annotations

import threading

from textual.widgets import Static

from bottlenecktop.probes.samples import StackWindow
from bottlenecktop.session import Event, Frame, Session
from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.compare import differences
from bottlenecktop.tui.screens.help import HelpScreen
from bottlenecktop.tui.synthetic import synthetic_frame, synthetic_session
from bottlenecktop.tui.widgets.notice_bar import NoticeBar
from bottlenecktop.tui.widgets.top_procs import TopProcs
from bottlenecktop.tui.widgets.verdict_bar import VerdictBar


class FakeController:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, float | str | None]] = []
        self.fail = fail

    def command(self, name: str, value: float | str | None = None) -> None:
        if self.fail:
            raise RuntimeError("the run is gone")
        self.sent.append((name, value))


async def test_run_keys_send_commands() -> None:
    ctl = FakeController()
    app = BottleneckApp(synthetic_session(30), ctl)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p", "p", "h", "plus", "minus", "m", "m", "s")
        await pilot.pause()
        assert ctl.sent == [("pause", None), ("resume", None), ("hold", None), ("raise", None),
                            ("lower", None), ("mark", "mark 1"), ("mark", "mark 2"), ("stop", None)]
        assert not app.paused
        await pilot.press("q")
        await pilot.pause()
    assert ctl.sent[-1] == ("stop", None)
    assert app.return_value == 0


async def test_panels_toggle_and_help_opens_and_closes() -> None:
    app = BottleneckApp(synthetic_session(30), FakeController())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.query_one("#load").display and app.query_one("#stacks").display
        await pilot.press("1", "3")
        assert not app.query_one("#load").display and not app.query_one("#stacks").display
        await pilot.press("1")
        assert app.query_one("#load").display
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("p")  # closes help only: no pause is sent
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen) and not app.paused


async def test_replay_keys_move_the_cursor_and_run_keys_do_nothing() -> None:
    session = synthetic_session(40, finished=True)
    ctl = FakeController()
    app = BottleneckApp(session, ctl, mode="replay")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.cursor is not None and app.cursor.t == 39.0
        assert "is the bottleneck" in str(app.query_one(VerdictBar).status)  # the final verdict at the end
        await pilot.press("home", "right_square_bracket")
        assert app.cursor.t == 4.0
        await pilot.press("right", "right")
        assert app.cursor.t == 6.0
        await pilot.press("apostrophe")
        assert app.cursor.t == 12.0
        await pilot.press("k")
        assert app.cursor.t == 29.0
        await pilot.press("left_square_bracket")
        assert app.cursor.t == 24.0
        status = app.query_one(VerdictBar).status
        assert status is not None and not status.final  # mid-run: the status so far, not the verdict
        assert "t = 24 s of 39 s" in str(app.query_one("#cursor-bar", Static).render())
        await pilot.press("p", "s")
        assert ctl.sent == []
        await pilot.press("end")
        assert app.cursor.at_end


async def test_observe_lists_processes_and_attaches_to_the_highlighted_one() -> None:
    ctl = FakeController()
    app = BottleneckApp(synthetic_session(10, mode="observe"), ctl)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(TopProcs)
        assert table.display and not app.query_one("#load").display and not app.query_one("#process").display
        assert table.row_count == 4
        table.focus()
        await pilot.press("down", "a")
        assert ctl.sent == [("attach", 901)]


async def test_too_small_says_so_and_recovers() -> None:
    app = BottleneckApp(synthetic_session(20), FakeController())
    async with app.run_test(size=(50, 12)) as pilot:
        await pilot.pause()
        assert app.query_one("#too-small").display and not app.query_one("#body").display
        assert "too small" in str(app.query_one("#too-small", Static).render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.query_one("#too-small").display and app.query_one("#body").display


async def test_notices_show_py_spy_permission_and_controller_failure() -> None:
    session = synthetic_session(10)
    session.frames[-1].stacks = StackWindow(t_start=5, t_end=9, pid=4242,
                                            error="permission denied: run as root or set "
                                                  "kernel.yama.ptrace_scope=0")
    app = BottleneckApp(session, FakeController(fail=True), notices=["started without py-spy"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = app.query_one(NoticeBar)
        assert bar.display
        verdict = app.query_one(VerdictBar)
        assert verdict.region.y == 0 and bar.region.y >= 1, "the notices must not cover the verdict bar"
        text = str(bar.render())
        assert "ptrace_scope" in text and "started without py-spy" in text
        await pilot.press("h")
        assert any("command hold failed" in n for n in app.notices)
        await pilot.press("n")
        assert not bar.display


async def test_live_frames_from_another_thread_redraw_the_screen() -> None:
    session = Session(synthetic_session(1).header)
    app = BottleneckApp(session, FakeController())
    redraws: list[float] = []
    redraw = app.redraw

    def counted() -> None:  # the coalescing under test schedules ``self.redraw``: count each call
        redraws.append(0.0)
        redraw()

    app.redraw = counted  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = len(redraws)

        def tick() -> None:  # like the engine's tick loop
            for t in range(5):
                session.append(synthetic_frame(t))

        thread = threading.Thread(target=tick)
        thread.start()
        thread.join(5)
        for _ in range(40):  # bounded wait for the coalesced redraw
            await pilot.pause(0.05)
            if len(redraws) > before and app.query_one(VerdictBar).status is not None:
                break
        assert len(redraws) > before
        assert len(redraws) - before <= 3  # five frames in a burst: coalesced, not five redraws
        status = app.query_one(VerdictBar).status
        assert status is not None and status.phase == "ramping"


async def test_a_target_exit_event_is_on_the_bar_not_a_crash() -> None:
    session = synthetic_session(10)
    session.append(Frame(t=10.0, events=[Event(kind="target-exit", text="target pid 4242 exited (signal 9)")]))
    app = BottleneckApp(session, FakeController())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = app.query_one(VerdictBar).status
        assert status is not None and status.severity == "exited"
        assert app.query_one(VerdictBar).has_class("-exited")


async def test_compare_mode_shows_the_differences() -> None:
    a, b = synthetic_session(40, finished=True), synthetic_session(30, finished=True)
    app = BottleneckApp(a, mode="compare", compare_with=b)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        from textual.widgets import DataTable

        table = app.screen.query_one("#differences", DataTable)
        assert table.row_count == len(differences(a, b)) >= 5


async def test_the_final_verdict_bar_says_what_it_would_take_to_go_higher() -> None:
    from bottlenecktop.verdict_types import Admission, WhatIf

    session = synthetic_session(40, finished=True)
    assert session.verdict is not None
    session.verdict.what_if = [WhatIf(resource="cpu-thread", change="render_page (app.py:88) moved off the "
                                      "saturated thread", estimate_rps=759.4, factor=2.0, basis="Amdahl's law")]
    session.verdict.admission = Admission(max_in_flight=12, refuse_above_rps=379.7, basis="Little's law")
    app = BottleneckApp(session, None, mode="replay")
    async with app.run_test(size=(200, 48)) as pilot:
        await pilot.pause()
        bar = app.query_one(VerdictBar)
        assert bar.size.height == 2
        # The finding is cut at the edge on the first line; the second line is the what-if, whatever the width.
        lines = ["".join(seg.text for seg in bar.render_line(y)).strip() for y in range(2)]
        assert lines[0].startswith("DONE") and "is the bottleneck" in lines[0], lines
        assert "what if render_page (app.py:88) moved off the saturated thread: ~759 req/s (x2.00" in lines[1], lines
        assert "admit 12 at once, refuse above 380 req/s" in lines[1], lines


async def test_a_running_ramp_shows_its_progress_under_the_load_plot() -> None:
    from bottlenecktop.session import RampInfo

    session = synthetic_session(30)
    session.header.ramp = RampInfo(start_rps=50, step_seconds=5, max_time_s=120.0)
    app = BottleneckApp(session, FakeController())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        title = str(app.query_one("#load").border_title)
        assert title.startswith("step ") and " s · ≤" in title and " s left │ " in title, title
