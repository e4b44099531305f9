"""The tick loop against real probes and real child processes: one frame per tick, marks, stop, a target that
exits, and Python thread names learnt from py-spy."""

from __future__ import annotations

import itertools
import time

from bottlenecktop.probes.process import ProcessProbe
from bottlenecktop.probes.stacks import StackProbe
from bottlenecktop.probes.system import NodeProbe
from bottlenecktop.runner import Runner
from bottlenecktop.session import Header, Session, Target
from tests.support.probe_children import EXIT_SOON, NAMED_HOT_THREAD, child


def make_runner(pid: int, max_time: float, stacks: bool = True) -> Runner:
    t0 = time.monotonic()
    session = Session(Header(mode="attach", target=Target(pid=pid)))
    return Runner(session, t0=t0, interval=0.5, node=NodeProbe(), target=ProcessProbe(pid),
                  stacks=StackProbe(pid, t0=t0) if stacks else None, max_time=max_time, stack_window_s=1.5)


def test_one_frame_per_tick_with_marks_and_python_thread_names() -> None:
    with child(NAMED_HOT_THREAD, seconds=15) as (proc, _):
        runner = make_runner(proc.pid, max_time=5.0)
        runner.command("mark", "before the first tick")
        runner.run()
    frames = runner.session.frames
    assert 8 <= len(frames) <= 11, [f.t for f in frames]
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))
    assert frames[0].marks == ["before the first tick"]
    assert all(f.node is not None and f.target is not None for f in frames)
    assert any(f.stacks is not None for f in frames)
    named = [f.target.threads[0].name for f in frames[-3:] if f.target and f.target.threads]
    assert "renderer" in named, named
    assert runner.stop_reason == "max-time" and runner.finished


def test_stop_ends_the_loop_within_a_tick() -> None:
    with child(NAMED_HOT_THREAD, seconds=15) as (proc, _):
        runner = make_runner(proc.pid, max_time=60.0, stacks=False)
        runner.start()
        time.sleep(1.2)
        started = time.monotonic()
        runner.stop("stopped")
        assert runner.wait(3.0)
        assert time.monotonic() - started < 2.0
    assert runner.stop_reason == "stopped" and 1 <= len(runner.session.frames) <= 4


def test_a_target_that_exits_is_an_event_not_a_crash() -> None:
    with child(EXIT_SOON, seconds=1.0) as (proc, _):
        runner = make_runner(proc.pid, max_time=3.0)
        runner.run()
    events = [e for f in runner.session.frames for e in f.events]
    exits = [e.text for e in events if e.kind == "target-exit"]
    assert len(exits) == 1 and exits[0].startswith(f"target pid {proc.pid} exited at "), events
    assert runner.session.frames[-1].target is not None and not runner.session.frames[-1].target.alive
