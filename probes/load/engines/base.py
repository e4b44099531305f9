"""What every engine shares: the schedule's queue, the tallies, error classes and event bookkeeping."""

from __future__ import annotations

import asyncio
import bisect
import errno
import socket
import ssl
import time
from collections import deque

from bottlenecktop.probes.load.stats import LAG_RESOLUTION_US, Tally
from bottlenecktop.probes.load.target import Target

# A request leaving more than this after its intended time was not sent on time (the driver fell behind;
# shorter delays happen on a busy box when the scheduler runs someone else).
LATE_S = 0.050
_PER_LAG_UNIT = 1e6 / LAG_RESOLUTION_US  # seconds -> lag units
# In the closed model, a failed request is retried after this pause so that a dead target is not hammered.
CLOSED_ERROR_PAUSE_S = 0.010


def status_class(status: int) -> str:
    return "http_5xx" if status >= 500 else "http_4xx"


def classify_connect_error(exc: BaseException, target: Target, timeout: float) -> tuple[str, str]:
    """Map a failed connect to (ERROR_CLASSES name, one line for a person)."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused", f"connection refused at {target.where}"
    if isinstance(exc, socket.gaierror):
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            return "other", f"unknown host {target.host}"
        return "other", f"cannot resolve {target.host}: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        return "other", f"TLS handshake failed with {target.where}: {exc.reason or exc}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout", f"connect to {target.where} timed out after {timeout:g} s"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        if target.tls:
            return "reset", f"TLS handshake failed with {target.where}: connection reset"
        return "reset", f"connection reset by {target.where}"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return "other", "the driver ran out of file descriptors (raise ulimit -n or lower max connections)"
        return "other", f"cannot connect to {target.where}: {exc.strerror or exc}"
    return "other", f"cannot connect to {target.where}: {type(exc).__name__}: {exc}"


def classify_lost(exc: BaseException | None) -> str:
    """The class of a request whose connection ended before the response did."""
    if exc is None or isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"




class EngineBase:
    """The bookkeeping both engines share: the schedule's offer and lag, the queue of requests waiting for a
    connection, the closed model's refill, and one-line events for a person."""

    timeout: float
    tally: Tally  # since the controller last took it
    queue: deque[float]  # intended send times waiting for a connection (oldest first)
    closed_n: int  # closed model: requests kept outstanding (0: open model)
    events: list[str]  # new one-line messages for a person, drained by the caller
    _seen: set[str]

    def _init_books(self, timeout: float) -> None:
        self.timeout = timeout
        self.tally = Tally()
        self.queue = deque()
        self.closed_n = 0
        self.events = []
        self._seen = set()

    @property
    def in_flight(self) -> int:
        raise NotImplementedError

    def submit(self, intended: float, now: float) -> None:
        raise NotImplementedError

    def _count_offer(self, intended: float, now: float) -> None:
        """Count one request of the schedule and how late it is handed over (the driver's own lag)."""
        tally = self.tally
        tally.offered += 1
        lag = now - intended
        if lag > LATE_S:
            tally.late += 1
        tally.lag.append(int(lag * _PER_LAG_UNIT) * LAG_RESOLUTION_US)

    def _count_wait(self, intended: float, now: float) -> None:
        """A request that waited for a connection leaves now: how long it waited, from its intended time."""
        tally = self.tally
        tally.waited += 1
        wait = now - intended
        if wait > LATE_S:
            tally.waited_late += 1
        tally.wait.append(int(wait * _PER_LAG_UNIT) * LAG_RESOLUTION_US)

    def take_tally(self) -> Tally:
        """What happened since the last call; the hot path starts a new Tally."""
        tally, self.tally = self.tally, Tally()
        return tally

    @property
    def queued(self) -> int:
        """Requests waiting for a connection."""
        return len(self.queue)

    def _queued_over(self, now: float, limit_s: float) -> int:
        """How many waiting requests are older than ``limit_s`` (the queue is in intended-time order)."""
        return bisect.bisect_left(self.queue, now - limit_s)

    def set_concurrency(self, n: int) -> None:
        """Closed model: keep ``n`` requests outstanding, each sent as soon as the previous one ends."""
        self.closed_n = max(0, n)
        now = time.monotonic()
        for _ in range(self.closed_n - self.in_flight):
            self.submit(now, now)

    def _expire_queue(self, now: float) -> None:
        """Time out requests that waited for a connection longer than the timeout."""
        queue = self.queue
        while queue and now - queue[0] > self.timeout:
            queue.popleft()
            self.tally.fail("timeout")

    def _queued_ages_us(self, now: float) -> list[int]:
        return [int((now - t) * 1e6) for t in self.queue]

    def drop_queue(self) -> None:
        """Forget requests that never left (used when the ramp backs off or stops); they count nowhere."""
        self.queue.clear()

    def take_events(self) -> list[str]:
        events, self.events = self.events, []
        return events

    def note(self, message: str) -> None:
        if message not in self._seen:
            self._seen.add(message)
            self.events.append(message)
