"""The open-model pacer: requests leave at their intended times, whatever the engine."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Submits(Protocol):
    def submit(self, intended: float, now: float) -> None: ...


class Pacer:
    """The open-model schedule: request i of a rate segment is meant to leave at ``base + i / rate``."""

    def __init__(self, engine: Submits) -> None:
        self.engine = engine
        self.rate = 0.0
        self._base = time.monotonic()
        self._n = 0
        self._stop = False

    def set_rate(self, rate: float) -> None:
        """Start a new constant-rate segment now (requests per second; 0 pauses)."""
        self.rate = max(0.0, rate)
        self._base = time.monotonic()
        self._n = 0

    def stop(self) -> None:
        self._stop = True

    async def run(self) -> None:
        engine = self.engine
        monotonic = time.monotonic
        while not self._stop:
            rate = self.rate
            if rate <= 0.0:
                await asyncio.sleep(0.02)
                continue
            now = monotonic()
            due = int((now - self._base) * rate) + 1
            base = self._base
            while self._n < due:
                engine.submit(base + self._n / rate, now)
                self._n += 1
            delay = base + self._n / rate - monotonic()
            # Short sleeps keep a rate change prompt; sleep(0) still lets responses in between batches.
            await asyncio.sleep(min(max(delay, 0.0), 0.02))
