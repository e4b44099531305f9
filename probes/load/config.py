"""The driver's options (bottlenecktop.probes.load.driver starts the driver with them)."""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("auto", "fast", "curl")


@dataclass(frozen=True)
class DriverConfig:
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout: float = 5.0  # seconds per request (and per connect)
    max_connections: int = 256
    slo_p99_ms: float = 500.0
    max_error_rate: float = 0.01  # 0..1
    max_rps: float | None = None
    max_time: float | None = None  # seconds from the start of the ramp
    start_rps: float = 10.0
    step_factor: float = 1.5
    step_seconds: float = 3.0
    confirm_seconds: float = 5.0
    search_steps: int = 3
    closed_model: bool = False
    concurrency_steps: tuple[int, ...] = ()
    t0: float = 0.0  # time.monotonic() of session start (Frame clock)
    engine: str = "auto"  # auto | fast (asyncio Protocol on uvloop) | curl (pycurl, for HTTP/2)
    http2: bool = False
    insecure: bool = False  # skip TLS certificate checks
    connect_host: str | None = None  # the address the URL's host was resolved to once, before the run
    # One of several load agents (probes/load/cluster): send only arrivals i with i mod stripe_count ==
    # stripe_index; with agent=True the process runs no ramp of its own and follows the controller's segments.
    stripe_index: int = 0
    stripe_count: int = 1
    agent: bool = False

    def problem(self) -> str | None:
        """One line saying what is wrong with these options, or None."""
        if self.engine not in ENGINES:
            return f"unknown engine {self.engine!r} (choose from {', '.join(ENGINES)})"
        if self.timeout <= 0:
            return "the request timeout must be positive"
        if self.max_connections < 1:
            return "max connections must be at least 1"
        if self.start_rps <= 0 or (self.max_rps is not None and self.max_rps <= 0):
            return "request rates must be positive"
        if self.step_factor <= 1.0:
            return "the step factor must be above 1"
        if self.step_seconds <= 0 or self.confirm_seconds <= 0:
            return "step and confirmation times must be positive"
        if self.search_steps < 0:
            return "search steps cannot be negative"
        if not 0.0 <= self.max_error_rate <= 1.0:
            return "the error-rate limit is a fraction between 0 and 1"
        if self.stripe_count < 1 or not 0 <= self.stripe_index < self.stripe_count:
            return "the stripe index must lie between 0 and the stripe count"
        if self.http2 and self.engine == "fast":
            return "HTTP/2 needs the curl engine"
        return None
