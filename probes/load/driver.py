"""The load driver's public API: start the driver process, read its measurements, command it.

The driver runs in its own process (``python -m bottlenecktop.probes.load.worker``), never in the caller's
event loop. It is
configured and commanded over its stdin and reports msgpack frames on its stdout; a reader thread here turns
them into LoadSecond, StepResult and RampOutcome records for ``poll()``. When the caller dies, the driver's stdin
closes and it exits by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from typing import IO

from bottlenecktop.probes.load import wire as load_wire
from bottlenecktop.probes.load.config import ENGINES, DriverConfig
from bottlenecktop.probes.load.engines import curl_available, engine_name
from bottlenecktop.probes.load.reports import DriverReports
from bottlenecktop.probes.load.target import BadTarget, build_target
from bottlenecktop.probes.parent_death import dying_with_parent
from bottlenecktop.probes.python_child import exit_text, last_line, module_argv
from bottlenecktop.probes.samples import LoadSecond, RampOutcome

__all__ = ["ENGINES", "DriverConfig", "LoadDriver"]



class LoadDriver(DriverReports):
    """One ramp in one driver process. Not thread-safe except that ``poll`` may run beside ``command``."""

    def __init__(self, config: DriverConfig) -> None:
        """Check the options; raise ValueError with one line for a person when they cannot work."""
        super().__init__()
        problem = config.problem()
        if problem is None:
            try:
                build_target(config.url, config.method, config.headers, config.body, config.connect_host)
            except BadTarget as exc:
                problem = str(exc)
            else:
                if engine_name(config) == "curl" and not curl_available():
                    problem = "the curl engine (HTTP/2) needs pycurl: pip install pycurl"
        if problem is not None:
            raise ValueError(problem)
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._outcome_queued = threading.Event()
        self._stopped = False
        self._sent_any = False  # a second with a request sent came back: the driver did start
        self._stderr: IO[bytes] | None = None  # the child's stderr, for the line it dies with

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> int:
        """Spawn the driver process and hand it the configuration; return its pid."""
        if self._proc is not None:
            return self._proc.pid
        env = dict(os.environ)
        # besides the stdin EOF: it dies with its parent
        argv, preexec = dying_with_parent(module_argv("bottlenecktop.probes.load.worker"), signal.SIGTERM)
        if not env.get("BOTTLENECKTOP_DRIVER_STDERR"):
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - read when the child dies, closed by stop
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
            preexec_fn=preexec,
        )
        self._write(load_wire.encode("cfg", self.config))
        self._reader = threading.Thread(target=self._read, name="load-driver-reader", daemon=True)
        self._reader.start()
        return self._proc.pid



    def command(self, name: str, value: float | str | None = None) -> None:
        """pause | resume | hold | raise | lower (value: factor, default the step factor) | stop."""
        if name not in ("pause", "resume", "hold", "raise", "lower", "stop"):
            return
        self._write(load_wire.encode("c", (name, value)))


    def stop(self, timeout: float = 5.0) -> None:
        """Stop the ramp and end the process (its outcome stays available to poll); idempotent."""
        proc = self._proc
        if proc is None or self._stopped:
            return
        self._stopped = True
        if proc.poll() is None:
            self.command("stop")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(1.0)
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        if self._stderr is not None:
            self._stderr.close()

    # --- internals

    def _write(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            proc.stdin.write(data)
            proc.stdin.flush()

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        stream = proc.stdout
        while True:
            try:
                frame = load_wire.read_frame(stream)
            except Exception:  # a torn frame from a dying process: treat as the end
                frame = None
            if frame is None:
                break
            kind, raw = frame
            try:
                payload = load_wire.decode_payload(kind, raw)
            except Exception:
                continue
            if kind == "e":
                self._events.put(str(payload))
            elif kind in ("s", "r", "o"):
                self._inbox.put(payload)
                if kind == "o":
                    self._outcome_queued.set()
                elif isinstance(payload, LoadSecond) and payload.sent:
                    self._sent_any = True
        code = proc.wait()
        if not self._outcome_queued.is_set():
            line = last_line(self._stderr) if self._stderr is not None else ""
            what = "exited unexpectedly" if self._sent_any else "could not start"
            self._events.put(f"the load driver {what} ({exit_text(code)})" + (f": {line}" if line else ""))
            self._inbox.put(RampOutcome(t=time.monotonic() - self.config.t0, why=line or exit_text(code),
                                        reason="driver-exited" if self._sent_any else "driver-not-started"))
            self._outcome_queued.set()
