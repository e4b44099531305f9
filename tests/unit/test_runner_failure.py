"""An exception in the tick loop ends the run like a stop does: the probes are stopped, the verdict still made."""

from __future__ import annotations

import time

from bottlenecktop.probes.samples import StackWindow
from bottlenecktop.runner import Runner
from bottlenecktop.session import Frame, Session
from tests.support.timeline_builder import header


class CountingStacks:
    """A stack probe that only counts how it was used (the real one needs py-spy and a target)."""

    error: str | None = None

    def __init__(self) -> None:
        self.started = self.stopped = 0

    def start(self) -> None:
        self.started += 1

    def take_window(self, t_end: float) -> StackWindow | None:
        return None

    def stop(self) -> None:
        self.stopped += 1


def test_a_listener_that_raises_stops_the_probes_and_sets_failure() -> None:
    session = Session(header(pid=None))
    calls = []

    def listener(frame: Frame) -> None:
        calls.append(frame.t)
        if len(calls) >= 2:
            raise BrokenPipeError(32, "Broken pipe")  # what print() to a closed stderr raises

    session.subscribe(listener)
    stacks = CountingStacks()
    finished = []
    runner = Runner(session, t0=time.monotonic(), interval=0.1, stacks=stacks, max_time=30.0)
    runner.on_finish = lambda: finished.append(True)
    runner.start()
    assert runner.wait(10.0), "the loop did not end"
    assert runner.failure is not None and "BrokenPipeError" in runner.failure
    assert stacks.started == 1 and stacks.stopped >= 1
    assert finished == [True], "the verdict step (on_finish) still ran"
    assert runner.stop_reason == "failed"


def test_a_probe_that_raises_ends_the_loop_too() -> None:
    class BadNode:
        def __init__(self) -> None:
            self.notices: list[str] = []

        def sample(self) -> object:
            raise RuntimeError("probe bug\nsecond line")

    runner = Runner(Session(header(pid=None)), t0=time.monotonic(), interval=0.1, node=BadNode(),  # type: ignore[arg-type]
                    max_time=30.0)
    runner.start()
    assert runner.wait(10.0)
    assert runner.failure == "the tick loop failed: RuntimeError: probe bug"
