"""A real target killed, stopped (SIGSTOP) or restarted on its port mid-ramp, with the CLI run headless: the
recording holds the events, the verdict calls the run inconclusive and its magic number a lower bound, nothing is
blamed on the time the target was away, and the replayed recording gives the same verdict.

Each test measures timing on a real clock: run them one at a time (they are marked slow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.discover import find_listener, listening
from bottlenecktop.probes.process import ProcessProbe
from bottlenecktop.recording import Recording, RecordingError, read_recording
from bottlenecktop.session import EventKind
from bottlenecktop.verdict_types import Verdict
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "bottlenecktop"]
RAMP = ["--headless", "--step-seconds", "2", "--max-time", "40"]

# A small threaded HTTP/1.1 server with a capacity well above what the ramp reaches before the test acts on it
# (8 slots x 5 ms: ~1,600 req/s), listening on argv[1] (0: any port), which it says on its first line.
SERVER = r'''
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

gate = threading.Semaphore(8)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with gate:
            time.sleep(0.005)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart binds the port its predecessor's connections still hold in TIME_WAIT
    request_queue_size = 128


server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", server.server_address[1], flush=True)
server.serve_forever(poll_interval=0.05)
'''


@contextmanager
def servers() -> Iterator[Callable[[int], tuple[subprocess.Popen[str], int]]]:
    """Start servers (on a port, 0: any) as the test asks; every one is killed at the end."""
    with tempfile.NamedTemporaryFile("w", suffix="_server.py", delete=False) as f:
        f.write(SERVER)
    started: list[subprocess.Popen[str]] = []

    def start(port: int = 0) -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen([sys.executable, f.name, str(port)], stdout=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # clients that hung up
        started.append(proc)
        assert proc.stdout is not None
        words = proc.stdout.readline().split()  # within a second, or EOF when it could not bind
        assert words[:1] == ["ready"], f"the server did not start on port {port}"
        return proc, int(words[1])

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)  # a stopped server dies of SIGKILL too, but be plain about it
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        os.unlink(f.name)


def _recording(path: Path) -> Recording | None:
    try:
        return read_recording(path)
    except (FileNotFoundError, RecordingError):  # not created yet, or created and still empty
        return None


def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def sustained_steps(path: Path) -> int:
    rec = _recording(path)
    return 0 if rec is None else sum(1 for f in rec.frames if f.step is not None and f.step.sustained)


def events_of(rec: Recording, kind: EventKind) -> list[tuple[float, str]]:
    return [(f.t, e.text) for f in rec.frames for e in f.events if e.kind == kind]


def decided(v: Verdict) -> tuple[object, ...]:
    return (v.capacity, v.bottleneck, [(f.resource, f.severity, f.t_start, f.t_end) for f in v.findings], v.steps,
            v.knee, v.overload, v.target_exit, v.inconclusive, v.target_changes)


def run(url: str, tmp_path: Path, act: Callable[[], None]) -> tuple[Recording, Verdict, str, int]:
    """The CLI ramping at URL; ``act`` once three steps were sustained. Returns the recording, its verdict, the
    summary (stdout) and the exit status."""
    rec_path = tmp_path / "r.btrec"
    proc = subprocess.Popen([*CLI, url, *RAMP, "--record", str(rec_path), "--json", str(tmp_path / "v.json")],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for("three sustained steps", lambda: sustained_steps(rec_path) >= 3, timeout=40)
        act()
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert "Traceback" not in err, err
    rec = read_recording(rec_path)
    assert rec.closed and rec.verdict is not None, rec.notice
    # Replay is not a second code path: the frames give the verdict the live run wrote (what this feature decides;
    # figures derived from the node's CPU may differ in their last digit, as the recording keeps floats rounded).
    assert decided(build_verdict(rec.header, rec.frames, recording=rec.verdict.recording)) == decided(rec.verdict)
    return rec, rec.verdict, out, proc.returncode


def assert_nothing_blamed_after(verdict: Verdict, t: float) -> None:
    """No resource finding from the time the target was away: each one ended before it (within a tick)."""
    for f in verdict.findings:
        if f.resource != "target-exit":
            assert f.t_end is not None and f.t_end <= t + 1, (f.resource, f.t_start, f.t_end, f.evidence)
    assert all(f.resource != "accept-queue" for f in verdict.findings)
    assert verdict.overload is None or verdict.overload.behaviour != "collapse", verdict.overload


def test_the_probes_see_a_stop_and_a_listener() -> None:
    with servers() as start:
        server, port = start(0)
        probe = ProcessProbe(server.pid)
        probe.sample()
        assert probe.state in ("S", "R") and listening(port) and find_listener(port) == server.pid
        os.kill(server.pid, signal.SIGSTOP)
        wait_for("state T", lambda: probe.sample().alive and probe.state == "T", timeout=5)
        os.kill(server.pid, signal.SIGCONT)
        wait_for("running again", lambda: probe.sample().alive and probe.state != "T", timeout=5)
        server.kill()
        server.wait(timeout=10)
        assert not probe.sample().alive and probe.state == ""
        assert not listening(port)


def test_a_target_killed_mid_ramp(tmp_path: Path) -> None:
    with servers() as start:
        server, port = start(0)

        def kill() -> None:
            server.kill()
            server.wait(timeout=10)

        rec, verdict, out, status = run(f"http://127.0.0.1:{port}/", tmp_path, kill)
    ((t_exit, text),) = events_of(rec, "target-exit")
    assert text.startswith(f"target pid {server.pid} exited at ")
    assert not events_of(rec, "target-restarted")
    assert verdict.inconclusive == "target-exited" and verdict.capacity.lower_bound
    assert verdict.capacity.max_sustainable_rps is not None and verdict.capacity.max_sustainable_rps > 0
    assert_nothing_blamed_after(verdict, t_exit - 1)
    assert f"This is a lower bound: the target (pid {server.pid}) exited (killed or crashed) at t=" in out
    assert "the run is inconclusive" in out and "collapse" not in out
    assert status == 4  # inconclusive: the magic number is a lower bound


def test_a_target_stopped_for_six_seconds(tmp_path: Path) -> None:
    with servers() as start:
        server, port = start(0)

        def pause() -> None:
            os.kill(server.pid, signal.SIGSTOP)
            time.sleep(6.0)
            os.kill(server.pid, signal.SIGCONT)

        rec, verdict, out, status = run(f"http://127.0.0.1:{port}/", tmp_path, pause)
    ((t_stop, stop),) = events_of(rec, "target-stopped")
    ((t_resume, resume),) = events_of(rec, "target-resumed")
    assert stop.startswith(f"target pid {server.pid} stopped (state T)") and resume.startswith(
        f"target pid {server.pid} resumed")
    assert 4 <= t_resume - t_stop <= 8
    assert not events_of(rec, "target-exit")
    assert verdict.inconclusive == "target-stopped" and verdict.capacity.lower_bound and status == 4
    assert all(f.resource != "accept-queue" for f in verdict.findings)
    for f in verdict.findings:  # nothing from the stop, nor the drain after it
        assert f.t_end is None or f.t_end <= t_stop or (f.t_start is not None and f.t_start >= t_resume + 5), \
            (f.resource, f.t_start, f.t_end)
    assert verdict.overload is None or verdict.overload.behaviour != "collapse"
    assert (f"This is a lower bound: the target (pid {server.pid}) was stopped (state T, as by SIGSTOP) at "
            f"t={t_stop:.0f} s until t={t_resume:.0f} s") in out


def test_a_target_restarted_on_its_port_is_followed(tmp_path: Path) -> None:
    with servers() as start:
        server, port = start(0)
        new: list[subprocess.Popen[str]] = []

        def restart() -> None:
            server.kill()
            server.wait(timeout=10)
            time.sleep(1.0)  # a tick or so with nobody listening, as a supervisor's restart takes
            new.append(start(port)[0])

        rec, verdict, out, status = run(f"http://127.0.0.1:{port}/", tmp_path, restart)
        (successor,) = new
    ((t_exit, _),) = events_of(rec, "target-exit")
    ((t_restart, text),) = events_of(rec, "target-restarted")
    assert text.startswith(f"pid {successor.pid} listens on port {port} at ")
    assert f"in place of pid {server.pid}" in text
    assert t_exit <= t_restart <= t_exit + 6  # the lookup waits for a listener, then scans at most every 5 s
    after = [f.target for f in rec.frames if f.t > t_restart and f.target is not None]
    assert after and all(s.pid == successor.pid and s.alive for s in after)
    assert verdict.inconclusive == "target-restarted" and verdict.capacity.lower_bound and status == 4
    assert verdict.target.pid == server.pid
    changes = verdict.target_changes if isinstance(verdict.target_changes, list) else []
    assert [(c.kind, c.pid) for c in changes] == [("exited", server.pid), ("restarted", successor.pid)]
    for f in verdict.findings:
        if f.resource != "target-exit":
            assert f.t_end is not None and (f.t_end <= t_exit or (f.t_start or 0) >= t_restart + 5), f
    assert verdict.overload is None or verdict.overload.behaviour != "collapse"
    assert (f"This is a lower bound: the target (pid {server.pid}) exited (killed or crashed) at t={t_exit:.0f} s, "
            f"and pid {successor.pid} took over its port at t={t_restart:.0f} s") in out
