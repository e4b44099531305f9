"""Observe mode runs for days: what it holds in memory must stop growing (issue 28, item 8).

The live session keeps a bounded window of frames (Session keep_frames; the recording keeps every frame), and
what reads it (the screen's plot window, live_status, the verdict at the end) still works on that window. The
node's process list forgets the pids that are gone, and the node probe the network interfaces that are gone.
"""

from __future__ import annotations

import itertools
import tracemalloc

import pytest

from bottlenecktop.analysis.verdict import build_verdict, live_status
from bottlenecktop.probes import system, top_procs
from bottlenecktop.probes.samples import NodeSample
from bottlenecktop.session import Frame, Session, keep_frames_for
from bottlenecktop.tui.series import RESOURCE_LINES, downsample, extract, window
from tests.support.timeline_builder import header, node, proc

TICKS = 20_000

def _frame(t: float, busy: float) -> Frame:
    """A tick like observe mode's: the node and bottlenecktop's own process."""
    sample = node(busy=busy, ncpu=2, psi=40.0 if busy > 90 else 0.0, runq=4 if busy > 90 else 1)
    return Frame(t=t, node=sample, self_proc=proc(pid=7, cpu=3.0, threads=[("python3", 3.0)]))


def _feed(session: Session, n: int, start: int = 0, busy_from: int | None = None) -> None:
    for i in range(start, start + n):
        session.append(_frame(float(i + 1), 99.0 if busy_from is not None and i >= busy_from else 20.0))


def test_observe_session_holds_a_bounded_window() -> None:
    hdr = header(mode="observe", pid=None, url=None, interval=1.0)
    keep = keep_frames_for("observe", 1.0)
    assert keep is not None and 300 <= keep <= 3600  # at least the screen's 300 s, at most an hour
    session = Session(hdr, keep_frames=keep)
    seen: list[float] = []
    session.subscribe(lambda f: seen.append(f.t))
    _feed(session, TICKS)
    frames = session.snapshot()
    assert len(frames) == keep
    assert frames[-1].t == TICKS and frames[0].t == TICKS - keep + 1  # the newest, in order, no gap
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))
    assert session.dropped == TICKS - keep  # type: ignore[attr-defined,unused-ignore]
    assert len(seen) == TICKS  # listeners (the recording, the screen) still get every frame


def test_observe_session_memory_stops_growing() -> None:
    """Traced memory after 20,000 ticks is that after 2,000: both are past the bound."""
    keep = 600
    session = Session(header(mode="observe", pid=None, url=None), keep_frames=keep)
    tracemalloc.start()
    try:
        _feed(session, 2_000)
        at_2k = tracemalloc.get_traced_memory()[0]
        _feed(session, TICKS - 2_000, start=2_000)
        at_20k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(session.frames) == keep
    assert at_20k < at_2k * 1.1 + 64 * 1024, (at_2k, at_20k)


def test_ramp_keeps_every_frame() -> None:
    """A ramp ends by itself and its verdict needs every step: no bound."""
    assert keep_frames_for("ramp", 1.0) is None and keep_frames_for("demo", 0.5) is None
    assert keep_frames_for("attach", 0.1) == 10 * (keep_frames_for("attach", 1.0) or 0)
    session = Session(header())
    _feed(session, 5_000)
    assert len(session.snapshot()) == 5_000


def test_live_analysis_and_plots_work_on_the_window() -> None:
    """After 20,000 ticks the node saturates: live_status, the final verdict and the plot series see it."""
    hdr = header(mode="observe", pid=None, url=None, ncpu=2)
    keep = keep_frames_for("observe", hdr.interval)
    session = Session(hdr, keep_frames=keep)
    _feed(session, TICKS, busy_from=TICKS - 60)
    frames = session.snapshot()

    status = live_status(hdr, frames)
    assert status.t == TICKS and status.phase == "observing"
    assert status.leading is not None and status.leading.resource == "cpu"

    verdict = build_verdict(hdr, frames)  # the end of an observe run: judged over the window
    assert verdict.bottleneck.resource == "cpu"

    shown = window(frames, None, 300.0)  # the screen's plot window
    assert len(shown) == 300 and shown[-1].t == TICKS
    label, get = RESOURCE_LINES["cpu"]
    series = downsample(extract(shown, label, get), 320)
    assert len(series.xs) == 300 and series.ys[-1] == 99.0


def test_top_procs_forgets_gone_pids(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 refreshes while processes come and go: the CPU counters kept are those of the live pids only."""
    live = list(range(100, 140))
    next_pid = [1000]

    def stat(pid: int | str, tid: int | None = None) -> tuple[str, list[str]]:
        fields = ["S"] + ["0"] * 30
        fields[11], fields[19], fields[21] = str(int(pid) % 7), str(int(pid) * 3), "100"
        return f"p{pid}", fields

    monkeypatch.setattr(top_procs.procfs, "all_pids", lambda: list(live))
    monkeypatch.setattr(top_procs.procfs, "proc_stat_fields", stat)
    probe = top_procs.TopProcs(count=8)
    for _ in range(TICKS):
        live.pop(0)  # one exits, one starts: a churning box (short-lived builds, cron, CGI)
        live.append(next_pid[0])
        next_pid[0] += 1
        rows = probe.refresh()
        assert len(rows) <= 8
    assert len(probe._prev) == len(live) == 40


def test_node_probe_forgets_gone_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container host makes a new veth for every container: link speeds are kept for the present ones only."""
    names = ["lo", "eth0"]
    monkeypatch.setattr(system.procfs, "net_dev", lambda: {n: [0] * 16 for n in names})
    monkeypatch.setattr(system.procfs, "link_speed_mbps", lambda name: 10_000.0)
    monkeypatch.setattr(system.procfs, "whole_disks", lambda: [])
    probe = system.NodeProbe()
    for i in range(TICKS):
        names[2:] = [f"veth{i}"]  # the previous container's interface is gone
        out = NodeSample()
        probe._sample_nets(out, 1.0)
        assert set(out.nets) == set(names) and out.nets[f"veth{i}"].speed_mbps == 10_000.0
    assert set(probe._speeds) == set(names)
