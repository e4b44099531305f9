"""Assemble a live session: the demo target if asked, the driver, the probes, the recording and the tick loop.

Everything that is started here is stopped by ``LiveRun.close()``, which also computes the verdict, writes it
to the recording and to ``--json``, and says where the recording is. Signals stop the run the same way.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import psutil

from bottlenecktop import __version__
from bottlenecktop.app.agents import start_cluster_driver, wants_agents
from bottlenecktop.config import RunConfig
from bottlenecktop.errors import BadInput, RunFailed
from bottlenecktop.probes.printable import printable
from bottlenecktop.redact import describe_body, redact_headers, redact_url
from bottlenecktop.runner import Runner
from bottlenecktop.session import Header, RampInfo, Session, Slo, Target, keep_frames_for
from bottlenecktop.verdict_types import Mode, Verdict

# The stop reason a signal gives a run, and the exit status it ends with (128 + the signal's number).
SIGNAL_REASONS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hangup"}
SIGNAL_EXITS = {"interrupted": 130, "terminated": 143, "hangup": 129}
# After a signal (or a screen found gone), the main thread has this long to close the run itself; then another
# thread closes it and ends the process: a terminal nobody reads blocks the main thread's writes for ever.
CLOSE_GRACE_S = 3.0
EXIT_INCONCLUSIVE = 4  # the answer is only a lower bound because the target went away mid-ramp


def _say(line: str) -> None:
    """One line on stderr; a stderr that went away is not a reason to leave the close half done."""
    with contextlib.suppress(OSError, ValueError):
        print(printable(f"bottlenecktop: {line}"), file=sys.stderr, flush=True)


class LiveRun:
    """One live session and everything it started."""

    def __init__(self, config: RunConfig, session: Session, runner: Runner) -> None:
        self.config = config
        self.session = session
        self.runner = runner
        self.notices: list[str] = []
        self.writer: Any = None
        self.demo: Any = None
        self.driver: Any = None
        self.metrics: Any = None  # the --metrics-listen endpoint
        self.verdict: Verdict | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._close_done = threading.Event()  # the recording, the verdict and --json are complete
        self._rescue: threading.Thread | None = None
        self._finalize_lock = threading.Lock()
        runner.on_finish = self.finalize
        self._signal_hooks: list[Callable[[], object]] = []

    def on_signal(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` (after stopping the run) when SIGTERM or SIGHUP arrives."""
        self._signal_hooks.append(hook)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            self.end(SIGNAL_REASONS.get(signum, "terminated"))

        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, handle)

    def end(self, reason: str, tell_screen: bool = True) -> None:
        """End the run for ``reason`` (a signal's, or "hangup" for a screen whose terminal went away): stop it,
        tell the screen (on the main thread only), and make sure it is closed and the process gone within
        CLOSE_GRACE_S plus the close, whatever the main thread is blocked on."""
        self.runner.stop(reason)
        if tell_screen:
            for hook in self._signal_hooks:
                hook()
        if self._rescue is None:
            self._rescue = threading.Thread(target=self._close_if_stuck, name="close-if-stuck", daemon=True)
            self._rescue.start()

    def fail(self, why: str) -> None:
        """End the run as failed (exit 1) for a reason outside the tick loop, such as a stderr that went away."""
        self.runner.failure = self.runner.failure or why
        self.runner.stop("failed")

    def _close_if_stuck(self) -> None:
        if not self._close_done.wait(CLOSE_GRACE_S):
            # Waits for a close the main thread has begun (each of its steps is bounded); says nothing, as the
            # terminal may be what blocks the main thread.
            self.close(quiet=True)
        # Closed: what is left is telling the terminal, which may be the thing that blocks.
        time.sleep(CLOSE_GRACE_S)
        os._exit(self.exit_status())

    def finalize(self) -> Verdict:
        """Compute the verdict over the whole timeline and write it where it belongs; idempotent."""
        with self._finalize_lock:
            if self.verdict is None:
                self.verdict = self._compute_verdict()
            return self.verdict

    def _compute_verdict(self) -> Verdict:
        from bottlenecktop.analysis.verdict import build_verdict

        recording = str(self.writer.path) if self.writer is not None and self.writer.error is None else None
        verdict = build_verdict(self.session.header, self.session.snapshot(), recording=recording,
                                goal_rps=self.config.goal_rps, horizon_s=self.config.horizon_s)
        if self.writer is not None:
            self.writer.write_verdict(verdict)
        self.session.set_verdict(verdict)
        return verdict

    def close(self, quiet: bool = False) -> None:
        """Stop everything this run started and leave the recording and the verdict complete; thread-safe, and
        every step is bounded in time except the last lines for the terminal (none when ``quiet``), which come
        after everything."""
        said: list[str] = []
        try:
            with self._close_lock:
                if self._closed:
                    return
                self._closed = True
                self._close(said)
        finally:
            for line in said if not quiet else ():
                _say(line)

    def _close(self, said: list[str]) -> None:
        """Close; ``said`` gets the lines to say once the files are complete."""
        try:
            self.runner.stop("closed")
            self.runner.wait(15.0)
            if self.driver is not None:
                self.driver.stop()
            self.finalize()
            if self.config.json_path is not None and self.verdict is not None:
                from bottlenecktop.outputs import write_json

                inputs = [self.writer.path] if self.writer is not None else []
                write_json(self.config.json_path, self.verdict.to_json_dict(), inputs=inputs)
        finally:
            if self.writer is not None:
                self.writer.close()
            self._close_done.set()
            if self.metrics is not None:
                self.metrics.stop()  # at most a second; its threads are daemons
            if self.demo is not None:
                self.demo.stop()
            if self.runner.failure is not None:
                said.append(f"the run stopped: {self.runner.failure}")
            if self.writer is not None:
                said.append(f"recording stopped: {self.writer.error}" if self.writer.error
                            else f"recorded to {self.writer.path}")

    def exit_status(self) -> int:
        """130 / 143 / 129 when SIGINT / SIGTERM / SIGHUP ended the run (after the clean close); 1 when the run
        failed (the tick loop failed, the load driver died) or --goal-rps was not reached within the SLO; 4 when
        it was inconclusive (the target exited, was stopped or restarted mid-ramp); else 0."""
        reason = self.runner.stop_reason
        if reason in SIGNAL_EXITS:
            return SIGNAL_EXITS[reason]
        if self.runner.failure is not None:
            return 1
        if self.runner.outcome is not None and self.runner.outcome.reason in ("driver-exited", "driver-not-started"):
            return 1
        if self.verdict is not None and isinstance(self.verdict.inconclusive, str):
            return EXIT_INCONCLUSIVE  # the target exited, stopped or was restarted mid-ramp: a lower bound only
        if self.config.mode in ("ramp", "demo"):
            best = self.verdict.capacity.max_sustainable_rps if self.verdict is not None else None
            if self.config.goal_rps is not None and (best is None or best < self.config.goal_rps):
                return 1
            if self.runner.outcome is None and self.runner.stop_reason not in ("interrupted", "terminated",
                                                                                "quit", "stopped", "max-time"):
                return 1
        return 0


def _listen_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def command_line(config: RunConfig, url: str | None) -> list[str]:
    """The run's command line as a recording keeps it: rebuilt from the parsed options, so no spelling argparse
    accepts (``-kH``, ``--header=``, a form body) carries a secret through. The URL and headers are redacted,
    the body is its size and sha256."""
    line = ["bottlenecktop"]
    if config.mode == "demo":
        line += ["demo", "--bottleneck", config.demo_kind]
        line += [a for k, v in sorted(config.demo_options.items()) for a in ("--set", f"{k}={v}")]
    elif url is not None:
        line.append(redact_url(url) or "")
    if config.pid is not None:
        line += ["--pid", str(config.pid)]
    for flag, on in (("--headless", config.headless), ("--no-record", not config.record),
                     ("--closed-model", config.closed_model), ("--http2", config.http2),
                     ("--insecure", config.insecure), ("--yes", config.yes)):
        if on:
            line.append(flag)
    numbers: tuple[tuple[str, float | None], ...] = (
        ("--max-time", config.max_time), ("--slo-p99", config.slo_p99_ms), ("--max-error-rate", config.max_error_rate),
        ("--max-rps", config.max_rps), ("--goal-rps", config.goal_rps), ("--interval", config.interval),
        ("--timeout", config.timeout), ("--connections", config.concurrency), ("--start-rps", config.start_rps),
        ("--step-seconds", config.step_seconds))
    for option, number in numbers:
        if number is not None:
            line += [option, f"{number:g}"]
    if config.url is not None or config.mode == "demo":
        line += ["--method", config.method]
    for name, value in redact_headers(config.headers):
        line += ["--header", f"{name}: {value}"]
    body = describe_body(config.body)
    if body is not None:
        line += ["--body", body]
    for option, urls in (("--node-exporter", config.node_exporters), ("--process-exporter", config.process_exporters),
                         ("--prometheus", (config.prometheus,) if config.prometheus else ())):
        line += [a for u in urls for a in (option, redact_url(u) or "")]
    if config.selector:
        line += ["--selector", config.selector]
    if config.metrics_listen is not None:
        host, port = config.metrics_listen
        line += ["--metrics-listen", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    return line


def _header(config: RunConfig, url: str | None, pid: int | None, local: bool, t0_wall: float) -> Header:
    return Header(
        mode=cast("Mode", config.mode),  # a live mode: the others never build a live run
        started_at=t0_wall,
        host=socket.gethostname(),
        cpu_count=os.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        kernel=platform.release(),
        version=__version__,
        python=platform.python_version(),
        command_line=command_line(config, url),
        target=Target(url=redact_url(url), pid=pid, local=local),  # the verdict's target.url comes from here
        slo=Slo(p99_ms=config.slo_p99_ms, error_rate=config.max_error_rate),
        interval=config.interval,
        self_pid=os.getpid(),
    )


def _ramp_info(driver_config: Any) -> RampInfo:
    from bottlenecktop.probes.load.ramp import CONFIRM_RETRIES

    c = driver_config
    return RampInfo(start_rps=c.start_rps, step_factor=c.step_factor, step_seconds=c.step_seconds,
                    confirm_seconds=c.confirm_seconds, search_steps=c.search_steps, confirm_retries=CONFIRM_RETRIES,
                    max_rps=c.max_rps, max_time_s=c.max_time, closed_model=c.closed_model)


def _consent(url: str, config: RunConfig) -> None:
    """A remote target is overloaded on purpose by a ramp: ask first."""
    if config.yes:
        return
    host = urlsplit(url).hostname
    if config.headless or not sys.stdin.isatty():
        raise BadInput(f"{host} is not on this host and the ramp overloads its target on purpose: add --yes to consent")
    answer = input(f"{host} is not on this host. The ramp pushes it to overload. Go ahead? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise BadInput("not ramping a remote target without consent")


def _driver_config(config: RunConfig, url: str, t0: float, address: str | None = None) -> Any:
    from bottlenecktop.probes.load.config import DriverConfig

    extra: dict[str, Any] = {}
    if config.concurrency is not None:
        extra["max_connections"] = config.concurrency
    if config.closed_model:
        top = config.concurrency or 64
        steps, c = [], 1
        while c < top:
            steps.append(c)
            c *= 2
        extra["concurrency_steps"] = (*steps, top)
    if config.max_time is not None:
        extra["max_time"] = config.max_time
    return DriverConfig(url=url, method=config.method, headers=config.headers, body=config.body,
                        timeout=config.timeout, slo_p99_ms=config.slo_p99_ms, max_error_rate=config.max_error_rate,
                        max_rps=config.max_rps, closed_model=config.closed_model, t0=t0,
                        start_rps=config.start_rps, step_seconds=config.step_seconds, http2=config.http2,
                        insecure=config.insecure, connect_host=address, **extra)


def _kernel_probes(pid: int, t0: float) -> Any:
    """The wait sampler, peers and cgroup probes of PID (the runner starts, samples and stops them)."""
    from bottlenecktop.probes.cgroup import CgroupProbe
    from bottlenecktop.probes.peers import PeerProbe
    from bottlenecktop.probes.threads import WaitSampler

    return WaitSampler(pid, t0=t0), PeerProbe(pid), CgroupProbe(pid)


def build_live_run(config: RunConfig) -> LiveRun:
    """Start what a live mode needs; raise BadInput or RunFailed with one line if it cannot start."""
    from bottlenecktop.probes.process import ProcessNotFound, ProcessProbe
    from bottlenecktop.probes.stacks import StackProbe
    from bottlenecktop.probes.system import NodeProbe

    t0, t0_wall = time.monotonic(), time.time()
    demo = None
    url = config.url
    pid = config.pid
    local = True
    started: list[Any] = []
    metrics = None
    try:
        if config.metrics_listen is not None:
            from bottlenecktop.metrics_endpoint import bind_endpoint

            metrics = bind_endpoint(config.metrics_listen)  # first: a port in use is bad input, before any request
            started.append(metrics)
        if config.mode == "demo":
            from bottlenecktop.demo import start_demo

            try:
                demo = start_demo(config.demo_kind, config.demo_options)
            except (RuntimeError, OSError) as exc:
                raise RunFailed(f"the demo server did not start: {exc}") from None
            started.append(demo)
            url, pid = demo.url, demo.pid
        driver_config = None
        if url is not None:
            from bottlenecktop.probes.load.preflight import preflight, resolve
            from bottlenecktop.probes.load.target import BadTarget

            try:
                resolved = resolve(url)  # the one lookup: "local" and every connection use its answer
            except BadTarget as exc:
                raise BadInput(f"{redact_url(url)}: {exc}") from None
            local = resolved.local
            driver_config = _driver_config(config, url, t0, resolved.address)
            _check_driver_config(driver_config)  # every option checked before a request is sent
            if not local:
                _consent(url, config)
            problem = preflight(url, timeout=min(config.timeout, 5.0), insecure=config.insecure,
                                method=config.method, http2=config.http2, address=resolved.address)
            if problem:
                raise RunFailed(f"{redact_url(url)}: {problem}")
            # with exporters named, the target is on those nodes: a local listener is not what they describe
            if pid is None and local and not config.remote:
                from bottlenecktop.probes.discover import find_listener

                pid = find_listener(_listen_port(url))
        header = _header(config, url, pid, local, t0_wall)
        if driver_config is not None:
            header.ramp = _ramp_info(driver_config)
        remote = _remote_probe(config, header)
        if remote is not None:
            started.append(remote)
        if demo is not None:
            header.demo = {"kind": demo.kind, **{k: str(v) for k, v in demo.options.items()}}
            if demo.capacity_rps:
                header.demo["capacity_rps"] = f"{demo.capacity_rps:g}"
        # observing never ends by itself: hold a bounded window (the recording keeps every frame)
        session = Session(header, keep_frames=keep_frames_for(header.mode, header.interval))
        notices: list[str] = []
        target = stacks = None
        if pid is not None:
            try:
                target = ProcessProbe(pid)
            except ProcessNotFound as exc:
                raise BadInput(str(exc)) from None
            stacks = StackProbe(pid, t0=t0)
        driver = driver_proc = None
        if url is not None and driver_config is not None and wants_agents(config):
            driver = start_cluster_driver(config, driver_config)
            started.append(driver)
        elif url is not None and driver_config is not None:
            from bottlenecktop.probes.load.driver import LoadDriver

            try:
                driver = LoadDriver(driver_config)
            except ValueError as exc:
                raise BadInput(str(exc)) from None
            driver_pid = driver.start()
            started.append(driver)
            header.driver_pid = driver_pid
            try:
                driver_proc = ProcessProbe(driver_pid, include_children=False, top_threads=2)
            except ProcessNotFound:
                raise RunFailed("the load driver exited at start") from None

        def attach(new_pid: int) -> tuple[Any, Any]:
            return ProcessProbe(new_pid), StackProbe(new_pid, t0=t0)

        writer = _open_writer(config, header, notices)
        runner = Runner(
            session, t0=t0, interval=config.interval, driver=driver,
            node=NodeProbe(listen_port=_listen_port(url) if url and local else None),
            target=target, stacks=stacks, driver_proc=driver_proc,
            self_proc=ProcessProbe(os.getpid(), include_children=False, top_threads=4),
            writer=writer, max_time=config.max_time, attach=attach,
            stack_window_s=5.0, remote=remote,
            kernel=_kernel_probes(pid, t0) if pid is not None else (None, None, None),
            attach_kernel=lambda new_pid: _kernel_probes(new_pid, t0),
            peer_probe=lambda peer_pid: ProcessProbe(peer_pid, top_threads=4),
        )
        if metrics is not None:
            metrics.start(session)
            _say(f"metrics for Prometheus at {metrics.url}")
    except BaseException:
        for thing in reversed(started):
            thing.stop()
        raise
    live = LiveRun(config, session, runner)
    live.writer, live.demo, live.driver, live.notices = writer, demo, driver, notices
    # LiveRun.__init__ declares no field for it yet; _close reads it back the same way
    live.metrics = metrics
    live.install_signal_handlers()
    return live


def _check_driver_config(driver_config: Any) -> None:
    """The driver's own checks of its options and of the request it will build, as BadInput (exit 2)."""
    from bottlenecktop.probes.load.target import BadTarget, build_target

    problem = driver_config.problem()
    if problem is None:
        try:
            build_target(driver_config.url, driver_config.method, driver_config.headers, driver_config.body,
                         driver_config.connect_host)
        except BadTarget as exc:
            problem = str(exc)
    if problem is not None:
        raise BadInput(problem)


def _remote_probe(config: RunConfig, header: Header) -> Any:
    """The exporters and Prometheus of --node-exporter, --process-exporter, --prometheus; None without them.
    A Prometheus that cannot be asked at start is one line and exit 1 (an exporter that is down is a gap)."""
    if not config.remote:
        return None
    from bottlenecktop.probes.remote.address import shown
    from bottlenecktop.probes.remote.probe import RemoteProbe
    from bottlenecktop.probes.remote.prometheus import PrometheusError

    probe = RemoteProbe(config.node_exporters, config.process_exporters, config.prometheus, config.selector,
                        interval=config.interval)
    header.remote_sources = [shown(u) for u in (*config.node_exporters, *config.process_exporters,
                                                *([config.prometheus] if config.prometheus else []))]
    if probe.prometheus is not None:
        try:
            probe.prometheus.check()
        except PrometheusError as exc:
            probe.close()
            raise RunFailed(str(exc)) from None
    return probe


def _open_writer(config: RunConfig, header: Header, notices: list[str]) -> Any:
    if not config.record:
        return None
    from bottlenecktop.recording import RecordingWriter, default_recording_path

    path = config.record_path or default_recording_path()
    writer = RecordingWriter(path, header)
    if writer.error and config.record_path is not None:
        raise BadInput(f"not recording: {writer.error}")
    if writer.error:
        notices.append(f"not recording: {writer.error}")  # the screen and headless both show the notices
        return None
    _say(f"recording to {path}")
    return writer
