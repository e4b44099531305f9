"""Shared by the driver tests: run a LoadDriver to its outcome within a bounded time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.driver import LoadDriver
from bottlenecktop.probes.samples import LoadSecond, RampOutcome, StepResult


@dataclass
class Run:
    seconds: list[LoadSecond] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    outcomes: list[RampOutcome] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> RampOutcome:
        assert len(self.outcomes) == 1, self.outcomes
        return self.outcomes[0]


def run_driver(
    config: DriverConfig, limit: float = 60.0, on_tick: Callable[[LoadDriver, Run, float], None] | None = None
) -> Run:
    """Start the driver, collect everything until its outcome (or ``limit`` seconds), stop it."""
    driver = LoadDriver(config)
    run = Run()
    driver.start()
    start = time.monotonic()
    try:
        while not driver.done and time.monotonic() - start < limit:
            time.sleep(0.1)
            for message in driver.poll():
                if isinstance(message, LoadSecond):
                    run.seconds.append(message)
                elif isinstance(message, StepResult):
                    run.steps.append(message)
                else:
                    run.outcomes.append(message)
            run.events.extend(driver.take_events())
            if on_tick is not None:
                on_tick(driver, run, time.monotonic() - start)
    finally:
        driver.stop()
    for message in driver.poll():
        if isinstance(message, RampOutcome):
            run.outcomes.append(message)
    run.events.extend(driver.take_events())
    return run
