"""The options of one run, validated: what the CLI parsed, handed to the runner, the driver and the screen."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunConfig:
    mode: str = "observe"  # observe | attach | ramp | demo | replay | compare | report
    url: str | None = None
    pid: int | None = None
    headless: bool = False
    json_path: Path | None = None
    max_time: float | None = None  # seconds; None: until the ramp is done (or forever in observe mode)
    record_path: Path | None = None  # None with record=True: a timestamped file under the user data dir
    record: bool = True
    slo_p99_ms: float = 500.0
    max_error_rate: float = 0.01
    max_rps: float | None = None
    goal_rps: float | None = None
    horizon_s: float = 3600.0  # a rate that exhausts memory sooner than this many seconds is not sustainable
    interval: float = 1.0  # seconds per tick
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"
    body: bytes | None = None
    yes: bool = False  # consent to ramp a target that is not on this host
    closed_model: bool = False
    concurrency: int | None = None  # connection cap (and the concurrency steps of the closed model)
    timeout: float = 5.0  # seconds per request
    http2: bool = False  # HTTP/2 (through libcurl): prior knowledge over http://, ALPN over https://
    insecure: bool = False  # skip TLS certificate checks (self-signed test servers)
    start_rps: float = 10.0  # the ramp's first step
    step_seconds: float = 3.0  # how long each ramp step lasts
    agents: int | None = None  # several load agents through Dask: N local ones, or at most N of --cluster's
    cluster: str | None = None  # a running Dask scheduler, tcp://HOST:8786, whose LOADGEN workers are the agents
    demo_kind: str = "cpu"
    demo_options: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # replay / compare / report inputs
    report_format: str = "md"
    report_window: str | None = None  # folded, speedscope: knee, worst, run, or a range A-B in session seconds
    report_table: str | None = None  # csv: seconds or steps
    output: Path | None = None
    argv: tuple[str, ...] = ()
    node_exporters: tuple[str, ...] = ()  # node_exporter URLs of the target's nodes
    process_exporters: tuple[str, ...] = ()  # process-exporter URLs
    prometheus: str | None = None  # a Prometheus server to read the nodes from, with ``selector``
    selector: str = ""  # PromQL label matchers, 'job="node"'
    # --metrics-listen: (IP address, port) of the live Prometheus endpoint; None: no endpoint
    metrics_listen: tuple[str, int] | None = None

    @property
    def remote(self) -> bool:
        """The target's nodes are observed through Prometheus exporters."""
        return bool(self.node_exporters or self.process_exporters or self.prometheus)
