"""What a load driver hands the tick loop: its measurements and its one-line events, queued by whatever thread
receives them (a pipe reader, the cluster controller) and drained without blocking by ``poll``."""

from __future__ import annotations

import queue

from bottlenecktop.probes.samples import LoadSecond, RampOutcome, StepResult

Message = LoadSecond | StepResult | RampOutcome


class DriverReports:
    """The queues and the drained end of the driver surface (poll, take_events, done), shared by the
    single-process driver and the cluster driver."""

    # Seconds of reports the tick loop may queue before the backlog gets frames of its own (nothing is dropped),
    # to keep the load beside the probes' samples of the same moment. One process reports every second on time;
    # see the cluster driver.
    timeline_lag_s = 2

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._outcome_delivered = False

    def poll(self) -> list[Message]:
        """Everything reported since the last call, in order; never blocks."""
        messages: list[Message] = []
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            messages.append(message)
            if isinstance(message, RampOutcome):
                self._outcome_delivered = True
        return messages

    def take_events(self) -> list[str]:
        """One-line messages for a person since the last call ("connection refused at 127.0.0.1:8000")."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    @property
    def done(self) -> bool:
        """The ramp has ended: its RampOutcome was returned by poll (a died driver reports one too)."""
        return self._outcome_delivered
