"""The pure parts of the screen: windowing, downsampling, the replay cursor, the bar's status, the comparison."""

from __future__ import annotations

from bottlenecktop.probes.samples import LoadSecond, NetSample, NodeSample, ProcSample
from bottlenecktop.session import Event, Frame
from bottlenecktop.tui.compare import differences
from bottlenecktop.tui.cursor import TimeCursor
from bottlenecktop.tui.series import Series, downsample, net_link_pct, step_starts, window
from bottlenecktop.tui.status import bar_status
from bottlenecktop.tui.synthetic import synthetic_header, synthetic_session, synthetic_verdict


def test_window_keeps_the_last_span_seconds() -> None:
    frames = [Frame(t=float(t)) for t in range(100)]
    shown = window(frames, None, 30.0)
    assert [f.t for f in shown][:1] == [70.0] and shown[-1].t == 99.0
    assert [f.t for f in window(frames, 50.0, 10.0)] == [float(t) for t in range(41, 51)]
    assert window([], None, 10.0) == []


def test_downsample_bounds_points_and_keeps_peaks() -> None:
    ys = [1.0] * 1000
    ys[500] = 99.0
    series = Series("p99", [float(i) for i in range(1000)], ys)
    peak = downsample(series, 100, peak=True)
    mean = downsample(series, 100)
    assert len(peak.xs) == 100 and len(mean.xs) == 100
    assert max(peak.ys) == 99.0  # a spike survives as a peak
    assert max(mean.ys) < 99.0
    assert peak.xs[-1] == 999.0
    assert downsample(series, 5000) is series


def test_step_starts_and_link_share() -> None:
    frames = [Frame(t=float(t), load=LoadSecond(t=float(t), step=t // 3)) for t in range(9)]
    assert step_starts(frames) == [3.0, 6.0]
    node = NodeSample(nets={"eth0": NetSample(rx_bps=62.5e6, speed_mbps=1000.0), "lo": NetSample(tx_bps=1e9)})
    assert net_link_pct(Frame(t=0, node=node)) == 50.0  # lo has no link speed: not counted


def test_cursor_moves_through_steps_marks_and_knee() -> None:
    session = synthetic_session(40)
    cursor = TimeCursor(session.snapshot())
    assert cursor.at_end and cursor.t == 39.0
    cursor.home()
    assert cursor.t == 0.0 and len(cursor.so_far()) == 1
    assert cursor.jump_step(forward=True) and cursor.t == 4.0  # the first step ends at 4 s
    assert cursor.jump_mark(forward=True) and cursor.t == 12.0
    assert not cursor.jump_mark(forward=True)
    assert cursor.jump_knee() and cursor.t == 29.0  # the last sustained step (380 req/s < capacity 420)
    cursor.step(-1000)
    assert cursor.index == 0
    assert not TimeCursor([]).jump_step()


def test_bar_status_without_verdict_has_phase_and_magic() -> None:
    session = synthetic_session(40)
    status = bar_status(session.header, session.snapshot())
    assert status.phase == "ramping"
    assert status.magic_rps is not None and 370 <= status.magic_rps <= 390


def test_bar_status_with_final_verdict_names_the_bottleneck() -> None:
    session = synthetic_session(40, finished=True)
    status = bar_status(session.header, session.snapshot(), synthetic_verdict())
    assert status.final and status.severity == "final" and status.resource == "cpu-thread"
    assert "cpu-thread" in status.finding and "MainThread" in status.finding
    assert status.magic_rps == 379.7


def test_a_target_that_exits_shows_on_the_bar() -> None:
    frames = [Frame(t=1.0, target=ProcSample(pid=7)), Frame(t=2.0, target=ProcSample(pid=7, alive=False))]
    status = bar_status(synthetic_header(), frames)
    assert status.severity == "exited" and "pid 7 exited" in status.finding
    frames = [Frame(t=3.0, events=[Event(kind="target-exit", text="target pid 9 exited (code 1)")])]
    assert "pid 9 exited" in bar_status(synthetic_header(), frames).finding


def test_empty_session_does_not_fail() -> None:
    status = bar_status(synthetic_header("observe", url=None, pid=None), [])
    assert status.phase == "observing" and status.magic_rps is None


def test_compare_rows() -> None:
    a, b = synthetic_session(40, finished=True), synthetic_session(30, finished=True)
    rows = {row[0]: row for row in differences(a, b)}
    assert rows["magic number (req/s)"][3] == "x1.00"
    assert rows["bottleneck"][3] == "same"
    assert any(name.startswith("p99 at") for name in rows)
    assert "CPU per request" in rows
