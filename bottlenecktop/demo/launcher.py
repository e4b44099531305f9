"""Parent side of the demo: start the server process(es), wait until the port answers, stop them for good.

The processes die with their parent in every way it can go: stop(), interpreter exit (atexit), and a kill of
the parent, even SIGKILL (PDEATHSIG plus EOF on the stdin pipe, see lifeline.py).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO, Any

import psutil

from bottlenecktop.demo.kinds import describe, resolve_options, spec_for
from bottlenecktop.probes.python_child import last_line, module_argv


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    port: int = 0
    pids: list[int] = field(default_factory=list)
    baseline_fds: int = 0
    workdir: str | None = None
    cgroup: str | None = None  # the quota kind's cgroup directory


@dataclass(eq=False)  # compared and hashed by identity: one object per running demo
class DemoServer:
    """A running demo target on 127.0.0.1 and every process it took to make it."""

    kind: str
    url: str
    port: int
    pid: int  # the process that serves the URL (the first of several for the cpu kind)
    pids: list[int]  # every process the demo started
    capacity_rps: float | None  # req/s the target sustains by construction; None if not known in advance
    fails_after_requests: int | None  # requests until the designed failure starts (fds kind)
    description: str
    options: dict[str, str]  # every knob, defaults included
    _children: list[_Child] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop every demo process within about ``timeout`` seconds and delete the demo's files. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _live.discard(self)
        _stop_children(self._children, timeout)


_live: set[DemoServer] = set()


@atexit.register
def _stop_all() -> None:
    for demo in list(_live):
        demo.stop()


def _stop_children(children: list[_Child], timeout: float) -> None:
    watched = [_process(pid) for child in children for pid in child.pids]
    deadline = time.monotonic() + timeout
    # EOF on stdin asks politely; the children clean up (temp dir, forked workers) and exit.
    for child in children:
        if child.proc.stdin:
            child.proc.stdin.close()
    for escalate, share in ((None, 0.5), (signal.SIGTERM, 0.8), (signal.SIGKILL, 1.0)):
        for child in children:
            if escalate is not None and child.proc.poll() is None:
                child.proc.send_signal(escalate)
        until = time.monotonic() + max(0.2, (deadline - time.monotonic()) * share)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.0, until - time.monotonic()))
    # Forked workers are not our children: they get PDEATHSIG from theirs, but make sure.
    for proc in watched:
        if proc is not None and _alive(proc):
            with contextlib.suppress(psutil.Error):
                proc.kill()
    for child in children:
        child.stderr.close()
        if child.workdir:
            shutil.rmtree(child.workdir, ignore_errors=True)
        if child.cgroup:  # the child removes it on its way out, unless it was SIGKILLed
            from bottlenecktop.demo.quota import remove_path

            remove_path(child.cgroup)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)  # remembers the create time, so a reused pid is never killed
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class _Spawner:
    """Forks from one long-lived thread: PDEATHSIG fires when the forking *thread* exits, not the process."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            fn, fut = self._jobs.get()
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def popen(self, argv: list[str], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="demo-spawner", daemon=True)
                self._thread.start()
        env = dict(os.environ)
        fut: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put(
            (
                lambda: subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,  # the lifeline: EOF when we are gone
                    stdout=subprocess.PIPE,  # the ready line
                    stderr=stderr,
                    env=env,
                    start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not theirs
                ),
                fut,
            )
        )
        return fut.result()


_spawner = _Spawner()


def _read_ready(child: _Child, deadline: float) -> dict[str, Any] | None:
    """The child's ready line, or None if it exited or the deadline passed first."""
    assert child.proc.stdout is not None
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(child.proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf and time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(child.proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            buf += chunk
    if b"\n" not in buf:
        return None
    ready: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
    return ready


def _accepts(port: int, deadline: float) -> bool:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _launch(kind: str, options: dict[str, str], deadline: float, extra: list[str]) -> _Child:
    argv = [*module_argv("bottlenecktop.demo"), "--child", "--parent-pid", str(os.getpid())]
    argv += ["--bottleneck", kind, *extra, *(f"{k}={v}" for k, v in options.items())]
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open with the child, closed by stop
    try:
        return _Child(_spawner.popen(argv, stderr), stderr)
    except BaseException:
        stderr.close()
        raise


def _wait_ready(child: _Child, kind: str, timeout: float, deadline: float) -> None:
    ready = _read_ready(child, deadline)
    if ready is not None:
        child.port, child.pids = int(ready["port"]), [int(p) for p in ready["pids"]]
        child.baseline_fds, child.workdir = int(ready["baseline_fds"]), ready["workdir"]
        child.cgroup = ready.get("cgroup")
        if _accepts(child.port, deadline):
            return
    try:  # EOF on stdout: the child is exiting; its status says more than a timeout would
        code: int | None = child.proc.wait(1.0)
    except subprocess.TimeoutExpired:
        code = None
    why = f"exited with status {code}" if code is not None else f"did not accept connections within {timeout:g} s"
    raise RuntimeError(f"demo server ({kind}) {why}: {last_line(child.stderr) or 'no message'}")


# Room for every request the async-downstream kind lets through: its own concurrency limit is the point.
_UNBOUNDED_SLOTS = "10000"


def _slow_service(kind: str, opts: dict[str, str]) -> dict[str, str] | None:
    """The lock kind's options for the second service that ``kind`` calls, or None if it calls none."""
    if kind in ("downstream", "proxy"):
        return {"workers": opts["slots"], "work_ms": opts["delay_ms"]}
    if kind == "async-downstream":
        return {"workers": _UNBOUNDED_SLOTS, "work_ms": opts["delay_ms"]}
    return None


def start_demo(kind: str = "cpu", options: dict[str, str] | None = None, ready_timeout: float = 10.0) -> DemoServer:
    """Start the ``kind`` demo on a free port of 127.0.0.1 and return once it accepts connections.

    ``options`` are the kind's knobs as strings (see parse_demo_options). Raises ValueError (one line) on a bad
    kind or option, RuntimeError (one line) if the server is not accepting within ``ready_timeout`` seconds.
    """
    opts = resolve_options(kind, options)
    deadline = time.monotonic() + ready_timeout
    children: list[_Child] = []
    try:
        extra: list[str] = []
        slow_service = _slow_service(kind, opts)
        if slow_service is not None:
            # The slow service is the lock kind in its own process: slots x delay.
            slow = _launch("lock", slow_service, deadline, [])
            children.append(slow)
            _wait_ready(slow, f"{kind}'s slow service", ready_timeout, deadline)
            extra = ["--downstream", f"http://127.0.0.1:{slow.port}/"]
        target = _launch(kind, opts, deadline, extra)
        children.insert(0, target)
        _wait_ready(target, kind, ready_timeout, deadline)
    except BaseException:
        _stop_children(children, 2.0)
        raise
    fails_after = None
    if kind == "fds":
        fails_after = max(0, int(opts["limit"]) - target.baseline_fds)
    demo = DemoServer(
        kind=kind,
        url=f"http://127.0.0.1:{target.port}/",
        port=target.port,
        pid=target.pids[0],  # the child itself, except for the proxy kind: the nginx it started
        pids=[pid for child in children for pid in child.pids],
        capacity_rps=spec_for(kind).capacity_rps(opts),
        fails_after_requests=fails_after,
        description=describe(kind, opts),
        options=opts,
        _children=children,
    )
    _live.add(demo)
    return demo
