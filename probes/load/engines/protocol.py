"""The surface every engine has: all the worker, the pacer and the benchmark use."""

from __future__ import annotations

from typing import Protocol

from bottlenecktop.probes.load.stats import Tally


class LoadEngine(Protocol):
    tally: Tally  # the hot path's counts since the controller last took them
    closed_n: int  # closed model: requests kept outstanding (0: open model)
    max_connections: int  # the cap on open connections (requests beyond it wait for one)

    @property
    def busy(self) -> int: ...  # requests on the wire

    @property
    def in_flight(self) -> int: ...  # on the wire plus waiting for a connection

    @property
    def queued(self) -> int: ...  # waiting for a connection

    @property
    def connections(self) -> int: ...

    def submit(self, intended: float, now: float) -> None: ...

    def take_tally(self) -> Tally: ...

    def set_concurrency(self, n: int) -> None: ...

    def sweep(self, now: float) -> None: ...

    def outstanding_over(self, now: float, limit_s: float) -> int: ...

    def outstanding_ages_us(self, now: float) -> list[int]: ...

    def drop_queue(self) -> None: ...

    def take_events(self) -> list[str]: ...

    def close(self) -> None: ...
