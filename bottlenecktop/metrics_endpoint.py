"""Live metrics for Prometheus (``--metrics-listen ADDR:PORT``): the run's rates, latencies, errors, ramp
position, leading finding and magic number so far, served as Prometheus / OpenMetrics text while a live run
lasts, so a dashboard can overlay them on the fleet's own series.

The tick thread only hands over the frame (``_on_frame``: a few attribute reads and one assignment, no lock,
no I/O); the numbers are turned into metric families when a scraper asks, on the server's thread, so one
scrape always shows one consistent picture. ``live_status`` (the leading finding, the magic number) is
computed on a scrape, at most once per new frame, and only because an endpoint exists.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO, get_args
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer

from bottlenecktop.analysis.findings import LiveStatus, StatusPhase
from bottlenecktop.errors import BadInput
from bottlenecktop.probes.printable import printable
from bottlenecktop.probes.samples import ERROR_CLASSES, LoadSecond, NodeSample, ProcSample
from bottlenecktop.session import Frame, Session

LOOPBACK = "127.0.0.1"
MAX_LABEL_CHARS = 200  # a scope names a thread of another process: bounded, so one odd name cannot bloat a scrape
STOP_WAIT_S = 1.0  # the run's close waits at most this long for the server to stop (its thread is a daemon)
POLL_S = 0.5  # the server's loop wakes this often to see a stop (2 wakeups a second: negligible)
HANDLER_TIMEOUT_S = 10.0  # a client that connects and says nothing holds its thread at most this long
# Latency quantiles from the intended send: (label, LoadSecond field). "1" is the interval's maximum.
QUANTILES = (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.99", "p99_ms"), ("1", "max_ms"))


def _literal_values(tp: Any) -> tuple[str, ...]:
    """The strings of a Literal, or of a union of Literals, in order."""
    out: list[str] = []
    for arg in get_args(tp):
        out += [arg] if isinstance(arg, str) else list(_literal_values(arg))
    return tuple(out)


STATUS_PHASES = _literal_values(StatusPhase)


class ListenAddress(NamedTuple):
    host: str  # an IP address literal
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Only this host can connect (127.0.0.0/8, ::1)."""
        return ipaddress.ip_address(self.host).is_loopback


def parse_listen(text: str) -> ListenAddress:
    """``PORT``, ``:PORT`` (both on 127.0.0.1), ``ADDR:PORT`` or ``[IPV6]:PORT``; ValueError with one line."""
    if text.isascii() and text.isdigit():
        host, port = "", text
    elif text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or not rest.startswith(":"):
            raise ValueError("expected [IPV6]:PORT")
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError("expected ADDR:PORT, :PORT or PORT")
        if ":" in host:
            raise ValueError("an IPv6 address goes in brackets: [::1]:9464")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        raise ValueError("the port must be a number from 1 to 65535")
    if host in ("", "localhost"):
        host = LOOPBACK
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("expected an IP address (or localhost), not a host name") from None
    return ListenAddress(str(address), int(port))


def bind_endpoint(address: tuple[str, int]) -> MetricsEndpoint:
    """The --metrics-listen endpoint, bound but not serving yet; BadInput (one line, exit 2) when the address
    cannot be listened on."""
    where = ListenAddress(*address)
    try:
        return MetricsEndpoint(where)
    except OSError as exc:
        why = {errno.EADDRINUSE: "the port is in use", errno.EADDRNOTAVAIL: "no such address on this host",
               errno.EACCES: "permission denied (ports below 1024 need privileges)"}.get(
                   exc.errno or 0, exc.strerror or str(exc))
        raise BadInput(f"--metrics-listen {where}: {why}") from None


def _label(text: str) -> str:
    """A label value from another process (a thread's name in a scope): control and format characters shown as
    escapes, as on the terminal; an unencodable surrogate escaped (it would fail the whole scrape); bounded.
    prometheus_client itself escapes backslashes, quotes and newlines."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return printable(text)[:MAX_LABEL_CHARS]


@dataclass(frozen=True, slots=True)
class _Latest:
    """What the tick thread hands over: replaced whole on each frame, so a scrape reads one consistent state.
    Each part is the last one seen (a catch-up frame carries only a load second; a gauge keeps its value)."""

    frames: int = 0
    t: float | None = None  # session seconds of the last frame
    load: LoadSecond | None = None
    node: NodeSample | None = None
    procs: Mapping[str, ProcSample] = field(default_factory=dict)  # role (target, driver, self) -> last sample
    errors_total: Mapping[str, int] = field(default_factory=dict)  # error class -> count since the start
    completed_total: int = 0  # responses and errors since the start


class MetricsEndpoint:
    """An HTTP endpoint with the run's live metrics. ``bind`` at start (an address in use fails there), ``start``
    once the session exists, ``stop`` when the run closes: bounded, and the threads are daemons."""

    def __init__(self, address: ListenAddress) -> None:
        self.address = address
        self._session: Session | None = None
        self._latest = _Latest()
        self._status: LiveStatus | None = None
        self._status_for = -1  # the frame count the cached status was computed at
        self.status_cpu_s = 0.0  # CPU of the last live_status, seconds
        self.status_count = 0  # live_status computations so far
        self.status_cpu_total_s = 0.0  # ... and their CPU, seconds
        self._status_lock = threading.Lock()  # two scrapes at once compute the status once
        self._failures = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a Collector is anything with collect()
        server_class = _QuietServer6 if ":" in address.host else _QuietServer
        # Binds now: OSError (EADDRINUSE, EADDRNOTAVAIL, EACCES) before anything else of the run starts.
        self._server = make_server(address.host, address.port, make_wsgi_app(self.registry, disable_compression=True),
                                   server_class, handler_class=_QuietHandler)

    @property
    def url(self) -> str:
        return f"http://{ListenAddress(self.address.host, self._server.server_address[1])}/metrics"

    def start(self, session: Session) -> None:
        """Follow ``session``'s frames and begin serving."""
        self._session = session
        self._latest = _Latest(frames=len(session.snapshot()))  # frames already there count (their parts do not)
        session.subscribe(self._on_frame)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL_S},
                                        name="metrics-endpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; waits at most STOP_WAIT_S (a scrape in progress finishes on its
        own daemon thread). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is None:
            self._server.server_close()
            return

        def shut() -> None:
            self._server.shutdown()  # returns once serve_forever sees it: within POLL_S
            self._server.server_close()

        closer = threading.Thread(target=shut, name="metrics-endpoint-stop", daemon=True)
        closer.start()
        closer.join(STOP_WAIT_S)

    def _on_frame(self, frame: Frame) -> None:
        """On the tick thread after each append: keep references, add this second's counts, nothing else."""
        if self._stopped:
            return
        old = self._latest
        errors, completed = old.errors_total, old.completed_total
        load = frame.load
        if load is not None:
            completed += load.completed
            if load.errors:
                errors = dict(errors)  # copy on write: a scrape may be reading the old mapping
                for name, count in load.errors.items():
                    errors[name] = errors.get(name, 0) + count
        procs = old.procs
        if frame.target is not None or frame.driver is not None or frame.self_proc is not None:
            procs = dict(procs)
            for role, sample in (("target", frame.target), ("driver", frame.driver), ("self", frame.self_proc)):
                if sample is not None:
                    procs[role] = sample
        self._latest = _Latest(frames=old.frames + 1, t=frame.t, load=load or old.load, node=frame.node or old.node,
                               procs=procs, errors_total=errors, completed_total=completed)

    def status(self, latest: _Latest | None = None) -> LiveStatus | None:
        """``live_status`` over the frames up to ``latest`` (default: all so far), computed at most once per new
        frame; None before any."""
        latest = latest or self._latest
        if self._session is None or latest.frames == 0:
            return None
        with self._status_lock:
            if self._status_for != latest.frames:
                from bottlenecktop.analysis.verdict import live_status

                cpu0 = time.thread_time()
                frames = self._session.snapshot()
                if len(frames) > latest.frames:  # a frame came since this scrape began: keep the scrape one tick
                    frames = frames[:latest.frames]
                self._status = live_status(self._session.header, frames)
                self.status_cpu_s = time.thread_time() - cpu0
                self.status_cpu_total_s += self.status_cpu_s
                self.status_count += 1
                self._status_for = latest.frames
            return self._status

    def collect(self) -> Iterable[Metric]:
        """The metric families now (prometheus_client calls this on each scrape, on the server's thread)."""
        try:
            families = self._families()
        except Exception:  # a bug must not fail the run nor print on its terminal: the scrape says it instead
            self._failures += 1
            families = []
        failures = CounterMetricFamily("bottlenecktop_exporter_failures", "Scrapes whose metrics could not be built")
        failures.add_metric([], self._failures)
        return [*families, failures]

    def _families(self) -> list[Metric]:
        session = self._session
        if session is None:
            return []
        latest, header = self._latest, session.header
        out: list[Metric] = []

        def gauge(name: str, doc: str, value: float | None, labels: Mapping[str, str] | None = None) -> None:
            if value is not None:  # unknown is a gap, never a zero
                family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
                family.add_metric(list((labels or {}).values()), value)
                out.append(family)

        out.append(InfoMetricFamily("bottlenecktop_run", "The run: mode, version and target (URL redacted)",
                                    value={"mode": header.mode, "version": _label(header.version),
                                           "target": _label(header.target.url or "")}))
        gauge("bottlenecktop_start_time_seconds", "Unix time of the session's t = 0", header.started_at)
        gauge("bottlenecktop_slo_p99_ms", "The SLO's p99 latency limit, ms", header.slo.p99_ms)
        gauge("bottlenecktop_slo_max_error_ratio", "The SLO's error limit, a fraction of requests",
              header.slo.error_rate)
        gauge("bottlenecktop_frame_seconds", "Session seconds of the last tick", latest.t)
        self._load_families(latest, gauge, out)
        node = latest.node
        gauge("bottlenecktop_node_cpu_busy_percent", "This node's CPU busy, % of the whole node (0-100)",
              node.cpu.busy_pct if node is not None else None)
        if latest.procs:
            cpu = GaugeMetricFamily("bottlenecktop_process_cpu_percent",
                                    "CPU of the target (with its children), the load driver and bottlenecktop, "
                                    "% of one core", labels=["role", "pid"])
            for role, sample in latest.procs.items():
                cpu.add_metric([role, str(sample.pid)], sample.cpu_pct)
            out.append(cpu)
        self._status_families(latest, gauge, out)
        return out

    def _load_families(self, latest: _Latest, gauge: Callable[..., None], out: list[Metric]) -> None:
        errors = CounterMetricFamily("bottlenecktop_errors", "Failed requests by class since the start",
                                     labels=["class"])
        classes = [*ERROR_CLASSES, *sorted(set(latest.errors_total) - set(ERROR_CLASSES))]
        for name in classes:
            errors.add_metric([name], latest.errors_total.get(name, 0))
        out.append(errors)
        completed = CounterMetricFamily("bottlenecktop_requests_completed",
                                        "Requests finished since the start (responses of any status, and errors)")
        completed.add_metric([], latest.completed_total)
        out.append(completed)
        load = latest.load
        if load is None:
            return
        gauge("bottlenecktop_load_second_end_seconds", "Session seconds at the end of the driver's last interval",
              load.t)
        gauge("bottlenecktop_offered_rps", "Requests whose intended send fell in the driver's last interval, req/s",
              load.offered_rps)
        gauge("bottlenecktop_achieved_rps", "OK responses in the driver's last interval, req/s", load.achieved_rps)
        # milliseconds, as the project names them (p99_ms) and docs/grafana-dashboard.json reads them
        latency = GaugeMetricFamily("bottlenecktop_latency_ms", "Latency from the intended send (no coordinated "
                                    "omission) over the driver's last interval, ms; quantile 1 is the max",
                                    labels=["quantile"])
        for quantile, name in QUANTILES:
            latency.add_metric([quantile], getattr(load, name))
        out.append(latency)
        per_s = GaugeMetricFamily("bottlenecktop_errors_rps", "Failed requests by class in the driver's last "
                                  "interval, per second", labels=["class"])
        for name in [*ERROR_CLASSES, *sorted(set(load.errors) - set(ERROR_CLASSES))]:
            per_s.add_metric([name], load.errors.get(name, 0) / load.dt if load.dt > 0 else 0.0)
        out.append(per_s)
        gauge("bottlenecktop_ramp_step", "The ramp step the driver's last interval belongs to (0 first)", load.step)

    def _status_families(self, latest: _Latest, gauge: Callable[..., None], out: list[Metric]) -> None:
        status = self.status(latest)
        if status is None:
            return
        phase = GaugeMetricFamily("bottlenecktop_phase", "What the run is doing: 1 for the current phase",
                                  labels=["phase"])
        for name in STATUS_PHASES:
            phase.add_metric([name], 1.0 if name == status.phase else 0.0)
        out.append(phase)
        leading = status.leading
        if leading is not None:
            gauge("bottlenecktop_leading_finding_score", "The strongest recent finding: its score, 0-1",
                  leading.score, {"resource": leading.resource, "severity": leading.severity,
                                  "scope": _label(leading.scope)})
        gauge("bottlenecktop_magic_rps", "The magic number so far: the highest rate sustained within the SLO, req/s",
              status.magic_rps)
        gauge("bottlenecktop_magic_lower_bound", "1 when the magic number is only a lower bound (the driver limited "
              "the rate, or the target went away)", 1.0 if status.lower_bound else 0.0)
        gauge("bottlenecktop_exporter_status_cpu_seconds", "CPU the last live analysis for this endpoint took",
              self.status_cpu_s)


class _QuietHandler(WSGIRequestHandler):
    """No request log and no traceback on the run's terminal (the screen or the headless lines own it)."""

    timeout = HANDLER_TIMEOUT_S

    def log_message(self, *args: Any) -> None:
        pass

    def get_stderr(self) -> TextIO:
        return io.StringIO()


class _QuietServer(ThreadingWSGIServer):
    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the address's name (getfqdn), which can take seconds: not needed.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a scraper that went away mid-answer is its own business


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6
