"""The tick loop (bottlenecktop.runner.Runner) driven by fake probes and a fake driver: the Protocols at the top
of runner.py are its whole boundary, so these runs take a fraction of a second each. The real probes and the real
driver are tests/integration/test_runner.py's."""

from __future__ import annotations

import threading
import time

from bottlenecktop.probes.samples import (
    CpuSample,
    LoadSecond,
    NodeSample,
    ProcSample,
    RampOutcome,
    StackWindow,
    StepResult,
    ThreadSample,
    ThreadState,
)
from bottlenecktop.runner import Runner
from bottlenecktop.session import Event, Frame, Header, Session, Target

TICK_S = 0.02  # the loop's interval in these tests: fast, and still a real clock


class FakeNode:
    def __init__(self, notices_at: dict[int, list[str]] | None = None) -> None:
        self.notices: list[str] = []
        self.calls = 0
        self.notices_at = notices_at or {}

    def sample(self) -> NodeSample:
        self.calls += 1
        self.notices.extend(self.notices_at.get(self.calls, []))  # a probe repeats its notice until it is fixed
        return NodeSample(cpu=CpuSample(busy_pct=float(self.calls), ncpu=2))


class FakeProc:
    """A process that is alive for ``alive_for`` samples (None: always)."""
    state = ""  # the scheduler state the runner reads (never stopped here)

    def __init__(self, pid: int, alive_for: int | None = None) -> None:
        self.pid = pid
        self.alive_for = alive_for
        self.calls = 0

    def sample(self) -> ProcSample:
        self.calls += 1
        alive = self.alive_for is None or self.calls <= self.alive_for
        return ProcSample(pid=self.pid, alive=alive, cpu_pct=10.0 if alive else 0.0,
                          threads=[ThreadSample(tid=self.pid, name="python3", cpu_pct=10.0)] if alive else [])


class FakeStacks:
    def __init__(self, pid: int, error: str | None = None) -> None:
        self.pid = pid
        self.error = error
        self.started = self.stopped = 0
        self.windows: list[float] = []

    def start(self) -> None:
        self.started += 1

    def take_window(self, t_end: float) -> StackWindow | None:
        self.windows.append(t_end)
        return StackWindow(t_start=t_end - 1, t_end=t_end, pid=self.pid, samples=10,
                           threads=[ThreadState(tid=self.pid, name="MainThread", samples=10)])

    def stop(self) -> None:
        self.stopped += 1


Message = LoadSecond | StepResult | RampOutcome


class FakeDriver:
    """Answers each poll with the next scripted batch of messages; says each scripted event on its poll."""

    timeline_lag_s = 2

    def __init__(self, script: list[list[Message]], events: dict[int, list[str]] | None = None) -> None:
        self.script = script
        self.events_at = events or {}
        self.polls = 0
        self.commands: list[tuple[str, float | str | None]] = []
        self.stopped = False
        self._events: list[str] = []

    def poll(self) -> list[Message]:
        self.polls += 1
        self._events += self.events_at.get(self.polls, [])
        return self.script[self.polls - 1] if self.polls <= len(self.script) else []

    def command(self, name: str, value: float | str | None = None) -> None:
        self.commands.append((name, value))
        if name == "stop":  # like the worker: the ramp ends with an outcome on the next poll
            self.script = [*self.script[:self.polls], [RampOutcome(t=1.0, reason="stopped")]]

    @property
    def done(self) -> bool:
        return self.stopped

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events


class FakeWriter:
    def __init__(self) -> None:
        self.error: str | None = None
        self.frames: list[Frame] = []

    def append(self, frame: Frame) -> None:
        self.frames.append(frame)


def _session(pid: int | None = None) -> Session:
    return Session(Header(mode="ramp" if pid is None else "attach", interval=TICK_S, target=Target(pid=pid)))


def _second(step: int, rps: float) -> LoadSecond:
    return LoadSecond(t=0.0, step=step, offered_rps=rps, achieved_rps=rps, ok=int(rps))


def _step(step: int, rps: float) -> StepResult:
    return StepResult(step=step, phase="ramping", t_start=0.0, t_end=0.1, offered_rps=rps, achieved_rps=rps)


def _events(session: Session) -> list[Event]:
    return [e for f in session.frames for e in f.events]


def _run(runner: Runner, timeout: float = 5.0) -> None:
    thread = runner.start()
    assert runner.wait(timeout), "the loop did not end"
    thread.join(1.0)


def test_a_ramp_becomes_frames_in_order_and_each_reaches_the_writer() -> None:
    outcome = RampOutcome(t=0.2, max_sustainable_rps=20.0, confirmed=True, reason="p99")
    driver = FakeDriver([[_second(0, 10)], [_second(0, 10), _step(0, 10)], [_second(1, 20)],
                         [_second(1, 20), _step(1, 20), outcome]],
                        events={2: ["connection to 127.0.0.1:8000 lost: reset"],
                                3: ["connection to 127.0.0.1:8000 lost: reset"]})  # said twice by the driver
    node, writer, session = FakeNode({1: ["no PSI for cpu on this kernel"]}), FakeWriter(), _session()
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, driver=driver, node=node, writer=writer,
                    max_time=10.0)
    started = time.monotonic()
    _run(runner)
    assert time.monotonic() - started < 2.0
    frames = session.frames
    assert runner.stop_reason == "done" and runner.outcome == outcome and driver.stopped
    assert len(frames) == 4 and frames[-1].outcome == outcome
    assert [f.step.step for f in frames if f.step] == [0, 1]
    assert [f.load.offered_rps for f in frames if f.load] == [10, 10, 20, 20]
    assert all(f.node is not None for f in frames)
    assert [f.t for f in frames] == sorted(f.t for f in frames)
    assert writer.frames == frames  # every frame, in order, the same object the session holds
    assert _events(session) == [Event(kind="node", text="no PSI for cpu on this kernel"),
                                Event(kind="driver", text="connection to 127.0.0.1:8000 lost: reset")]  # once


def test_seconds_that_come_in_a_burst_or_with_the_outcome_are_all_recorded() -> None:
    # A cluster's merged seconds come at once after a slow agent catches up, and the ramp can end with seconds
    # still queued: the timeline keeps at most timeline_lag_s of them waiting, and every one reaches the writer.
    burst: list[Message] = [_second(0, 10 + i) for i in range(5)]
    tail = [_second(1, 20 + i) for i in range(3)]
    outcome = RampOutcome(t=0.3, max_sustainable_rps=20.0, reason="p99")
    driver = FakeDriver([burst, [_second(0, 15)], [*tail, _step(1, 20), outcome]])
    session, writer = _session(), FakeWriter()
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, driver=driver, writer=writer, max_time=10.0)
    _run(runner)
    frames = session.frames
    assert [f.load.offered_rps for f in frames if f.load] == [10, 11, 12, 13, 14, 15, 20, 21, 22]
    assert writer.frames == frames and frames[-1].outcome == outcome
    assert [f.t for f in frames] == sorted(f.t for f in frames)
    # The burst of five: one in the tick's frame, two more in frames of their own, two left queued (the lag).
    first_tick = [f for f in frames if f.t == frames[0].t]
    assert [f.load.offered_rps for f in first_tick if f.load] == [10, 11, 12]


def test_an_outcome_after_stop_still_reaches_the_timeline() -> None:
    # The driver sends load until stopped; its outcome and the last step come only after the stop command.
    class StoppingDriver(FakeDriver):
        def command(self, name: str, value: float | str | None = None) -> None:
            super().command(name, value)
            if name == "stop":  # a step that ended as the stop came in, then the outcome
                self.script = [*self.script[:self.polls], [_step(3, 40), RampOutcome(t=1.0, reason="stopped")]]

    driver = StoppingDriver([[_second(0, 10)]] * 1000)
    session, writer = _session(), FakeWriter()
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, driver=driver, writer=writer, max_time=10.0)
    thread = runner.start()
    deadline = time.monotonic() + 3.0
    while len(session.frames) < 3 and time.monotonic() < deadline:
        time.sleep(TICK_S)
    runner.stop("stopped")
    assert runner.wait(5.0)
    thread.join(1.0)
    assert runner.stop_reason == "stopped" and ("stop", None) in driver.commands
    last = session.frames[-1]
    assert last.step is not None and last.step.step == 3 and last.outcome is not None
    assert last.outcome.reason == "stopped" and writer.frames == session.frames


def test_a_target_exit_is_one_typed_event_and_stacks_stop_on_it() -> None:
    stacks = FakeStacks(7, error="pid 7 exited: stacks are off")
    session = _session(pid=7)
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, target=FakeProc(7, alive_for=3),
                    stacks=stacks, stack_window_s=0.0, max_time=0.3)
    _run(runner)
    events = _events(session)
    exits = [e for e in events if e.kind == "target-exit"]
    assert len(exits) == 1 and exits[0].text.startswith("target pid 7 exited at ")
    assert [e for e in events if e.kind == "stacks"] == [Event(kind="stacks", text="pid 7 exited: stacks are off")]
    frames = session.frames
    gone = next(i for i, f in enumerate(frames) if f.target is not None and not f.target.alive)
    assert gone == 3 and exits[0] in frames[gone].events
    assert all(f.stacks is None for f in frames[gone:])  # no windows of a process that is gone
    assert all(f.stacks is not None for f in frames[:gone])  # one per tick before (stack_window_s=0)
    assert runner.stop_reason == "max-time" and stacks.started == 1 and stacks.stopped == 1
    # Python's thread names, learnt from the stack windows, replace the kernel's in the process samples.
    assert [th.name for f in frames[:gone] if f.target is not None for th in f.target.threads] == ["MainThread"] * 3


def test_attach_switches_the_target_and_says_so() -> None:
    old_stacks, new_stacks = FakeStacks(1), FakeStacks(99)
    made: list[int] = []
    attached = threading.Event()

    def attach(pid: int) -> tuple[FakeProc, FakeStacks]:
        if pid == 404:
            raise ProcessLookupError("no such process")
        made.append(pid)
        attached.set()
        return FakeProc(pid), new_stacks

    session = _session(pid=1)
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, target=FakeProc(1), stacks=old_stacks,
                    attach=attach, max_time=0.5)
    thread = runner.start()
    runner.command("attach", 404)
    deadline = time.monotonic() + 2.0
    while not any(e.kind == "attach-failed" for e in _events(session)) and time.monotonic() < deadline:
        time.sleep(TICK_S)
    runner.command("mark", "before the switch")
    runner.command("attach", 99)
    assert attached.wait(2.0)
    assert runner.wait(5.0)
    thread.join(1.0)
    events = _events(session)
    assert Event(kind="attach-failed", text="cannot attach to pid 404: no such process") in events
    assert Event(kind="attach", text="attached to pid 99") in events
    assert made == [99] and session.header.target.pid == 99
    switch = next(i for i, f in enumerate(session.frames) if Event(kind="attach", text="attached to pid 99")
                  in f.events)
    assert all(f.target is not None and f.target.pid == 99 for f in session.frames[switch:])
    assert all(f.target is not None and f.target.pid == 1 for f in session.frames[:switch])
    assert old_stacks.stopped == 1 and new_stacks.started == 1
    assert [m for f in session.frames for m in f.marks] == ["before the switch"]


def test_commands_the_loop_does_not_take_go_to_the_driver_and_stop_ends_it() -> None:
    driver = FakeDriver([[_second(0, 10)]] * 1000)
    runner = Runner(_session(), t0=time.monotonic(), interval=TICK_S, driver=driver, max_time=10.0)
    thread = runner.start()
    runner.command("pause")
    runner.command("raise", 2.0)
    runner.command("stop")
    assert runner.wait(5.0)
    thread.join(1.0)
    assert driver.commands[:3] == [("pause", None), ("raise", 2.0), ("stop", None)]
    assert runner.stop_reason == "stopped" and runner.finished and runner.outcome is not None
