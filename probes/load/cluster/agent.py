"""The load agent: a Dask actor that runs our driver process (``python -m bottlenecktop.probes.load.worker``
in agent mode) on its worker's host and relays control in and stats out. Requests never pass through Dask.

The actor's methods run on its Dask worker; the controller calls them (cluster.driver). This module imports
nothing of Dask: Dask only needs the class to be importable where the worker runs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from typing import IO, Any

from bottlenecktop.probes.load import wire as load_wire
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.python_child import exit_text, last_line, module_argv


class LoadAgent:
    """One driver process on this host, commanded by the ramp controller."""

    def __init__(self) -> None:
        self.host = socket.gethostname()
        self._proc: subprocess.Popen[bytes] | None = None
        self._seconds: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._drained = threading.Event()
        self._exited = threading.Event()
        self._lock = threading.Lock()
        self._stderr: IO[bytes] | None = None  # the driver process's stderr, for the line it dies with
        self._stopping = False

    def clock(self) -> float:
        """This host's wall clock (time.time(), seconds): the controller measures its offset."""
        return time.time()

    def start(self, config: DriverConfig, index: int, count: int) -> dict[str, Any]:
        """Start the driver process as agent ``index`` of ``count``; its host name and pids."""
        config = replace(config, agent=True, stripe_index=index, stripe_count=count, t0=time.monotonic())
        env = dict(os.environ)
        if not env.get("BOTTLENECKTOP_DRIVER_STDERR"):
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - read when the child dies
        self._proc = subprocess.Popen(
            module_argv("bottlenecktop.probes.load.worker"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env, close_fds=True)
        self._write(load_wire.encode("cfg", config))
        threading.Thread(target=self._read, name="load-agent-reader", daemon=True).start()
        return {"host": self.host, "pid": self._proc.pid, "worker_pid": os.getpid()}

    def segment(self, segment: dict[str, Any]) -> None:
        """Hand over a cluster.messages.Segment (as a map) to the driver process."""
        self._write(load_wire.encode("c", ("segment", segment)))

    def drain(self, timeout: float, at_wall: float) -> bool:
        """Stop sending at ``at_wall`` (this host's time.time()) until the requests out are answered; True once
        the driver says so within ``timeout`` of that instant."""
        self._drained.clear()
        self._write(load_wire.encode("c", ("drain", at_wall)))
        return self._drained.wait(timeout + max(0.0, at_wall - time.time()))

    def take(self) -> tuple[list[bytes], list[str], bool]:
        """The AgentSeconds (msgpack) and event lines since the last call, and whether the process has ended."""
        seconds, events = [], []
        with contextlib.suppress(queue.Empty):
            while True:
                seconds.append(self._seconds.get_nowait())
        with contextlib.suppress(queue.Empty):
            while True:
                events.append(self._events.get_nowait())
        return seconds, events, self._exited.is_set() and self._seconds.empty()

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._stopping = True
        if proc.poll() is None:
            self._write(load_wire.encode("c", ("stop", None)))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(3.0)
        if proc.poll() is None:
            proc.kill()
            proc.wait(1.0)

    def _write(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):
            proc.stdin.write(data)
            proc.stdin.flush()

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while True:
            try:
                frame = load_wire.read_frame(proc.stdout)
            except Exception:  # a torn frame from a dying process
                frame = None
            if frame is None:
                break
            kind, raw = frame
            if kind == "a":
                self._seconds.put(bytes(raw))
            elif kind == "e":
                self._events.put(str(load_wire.decode_payload(kind, raw)))
            elif kind == "d":
                self._drained.set()
        code = proc.wait()
        if code != 0 and not self._stopping:
            line = last_line(self._stderr) if self._stderr is not None else ""
            self._events.put(f"the load driver on {self.host} exited unexpectedly ({exit_text(code)})"
                             + (f": {line}" if line else ""))
        self._exited.set()
