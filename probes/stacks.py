"""The stack probe: py-spy on the target, aggregated per window (a ramp step, or a rolling window).

How it samples (measured in benchmarks/probe_overhead.py): one ``py-spy record --format raw --nonblocking
--threads --idle`` runs per window and is ended with SIGINT when the window closes (record writes its file only
when it ends; SIGTERM would lose it); the next window's record starts before the old one is stopped. Every
py-spy gets PR_SET_PDEATHSIG (SIGKILL, through setpriv): it dies with the thread that started it, even after a
kill -9 of us. A record costs little per sample but cannot say whether a thread held the GIL or was idle, so a
``py-spy dump --json --nonblocking`` (about 12 ms of CPU each) runs every ``dump_every`` seconds for ``owns_gil``
and ``active``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bottlenecktop.probes.parent_death import dying_with_parent
from bottlenecktop.probes.samples import StackWindow
from bottlenecktop.probes.stack_classify import Frame, Tally, parse_raw_line

GRANT = ("run bottlenecktop as root, or `sudo sysctl kernel.yama.ptrace_scope=0`, "
         "or add SYS_PTRACE to the container (docker run --cap-add SYS_PTRACE)")
STOP_TIMEOUT_S = 3.0  # a record normally writes its file and exits within ~60 ms of SIGINT
DUMP_TIMEOUT_S = 5.0
# py-spy's cost is per thread read: about 0.15 ms of CPU per thread per sample here (163 threads at 50 Hz took a
# whole core). 300 thread-samples a second keeps it near 5 % of a core whatever the thread count.
MAX_RATE_HZ = 50.0
MIN_RATE_HZ = 2.0
THREAD_SAMPLES_PER_S = 300.0
DUMP_THREADS = 16  # dumps once a second up to this many threads, proportionally less often above


def py_spy_binary() -> str | None:
    """The py-spy executable: next to this Python (where the py-spy wheel installs it), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def explain_failure(pid: int, stderr: str) -> str:
    """One line that says why py-spy could not read PID, and how to fix it when that is possible."""
    text = stderr.lower()
    if "permission denied" in text or "operation not permitted" in text:
        return f"py-spy may not read pid {pid} (permission denied): {GRANT}; stacks are off"
    if "failed to find python version" in text or "not a python" in text or "python interpreter" in text:
        return f"pid {pid} is not a Python process: stacks are off"
    if "no such process" in text or "check that the process is running" in text:
        return f"pid {pid} exited: stacks are off"
    first = next((ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("Error")), "")
    return f"py-spy failed on pid {pid}: {first or 'unknown error'}; stacks are off"


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for PROC (killing it after TIMEOUT seconds) and return the CPU seconds it used."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped elsewhere
            return 0.0
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            deadline = time.monotonic() + 5.0
        time.sleep(0.005)


def _dump_threads(data: object) -> list[tuple[int, str, bool, bool, list[Frame]]]:
    """py-spy dump --json (a list of threads, or of processes with threads) -> Tally.add_dump rows."""
    rows: list[tuple[int, str, bool, bool, list[Frame]]] = []
    items = data if isinstance(data, list) else []
    for th in items:
        if not isinstance(th, dict):
            continue
        frames = [(str(f.get("name", "")), str(f.get("filename", "")), int(f.get("line") or 0))
                  for f in th.get("frames", []) if isinstance(f, dict)]
        frames.reverse()  # py-spy lists innermost first; Tally wants outermost first
        tid = int(th.get("os_thread_id") or th.get("thread_id") or 0)
        rows.append((tid, str(th.get("thread_name") or ""), bool(th.get("active")), bool(th.get("owns_gil")),
                     frames))
    return rows


class StackProbe:
    """py-spy sampling of PID in the background, taken out one window at a time.

    ``error`` is set (one line, for a person) when stacks are off: no py-spy, no permission, not Python, the
    target exited. The rest of a run goes on without stacks.
    """

    def __init__(self, pid: int, rate_hz: float = MAX_RATE_HZ, *, t0: float = 0.0, dump_every: float = 1.0,
                 subprocesses: bool = True) -> None:
        self.pid = pid
        self.rate_hz = rate_hz
        self.t0 = t0
        self.dump_every = dump_every
        self.subprocesses = subprocesses
        self.error: str | None = None
        self._binary = py_spy_binary()
        self._dir = tempfile.mkdtemp(prefix="bottlenecktop-stacks-")
        self._lock = threading.Lock()
        self._record: subprocess.Popen[bytes] | None = None
        self._record_path = ""
        self._record_started = 0.0
        self._seq = 0
        self._tally = Tally()
        self._dump_cpu = 0.0
        self._window_start: float | None = None
        self._stop = threading.Event()
        self._dumper: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Check that py-spy can read the target (one dump), then start the background sampling."""
        if self._binary is None:
            self.error = "py-spy is not installed (pip install py-spy): stacks are off"
            return
        self._window_start = time.monotonic() - self.t0
        rows = self._dump_once()
        if rows is None:
            self.error = self.error or f"py-spy gave no stacks for pid {self.pid}: stacks are off"
            return
        with self._lock:
            self._tally.add_dump(rows)
            self._record = self._start_record()
        if self.dump_every > 0:
            self._dumper = threading.Thread(target=self._dump_loop, name="py-spy-dumps", daemon=True)
            self._dumper.start()

    def stop(self) -> None:
        """Stop sampling; no py-spy process outlives this call. Idempotent."""
        self._stop.set()
        if self._dumper is not None:
            self._dumper.join(timeout=DUMP_TIMEOUT_S + 1)
        with self._lock:
            if self._record is not None:
                self._record.send_signal(signal.SIGINT)
                _reap(self._record, STOP_TIMEOUT_S)
                self._record = None
            self._stopped = True
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- windows -----------------------------------------------------------------------------------------
    def take_window(self, t_end: float) -> StackWindow | None:
        """Close the current window at session time T_END (seconds), return its aggregate (None when it has no
        samples) and start the next one. Blocks the caller for about the time py-spy takes to write its file
        (~60 ms)."""
        with self._lock:
            if self._window_start is None or self._stopped:
                return None
            old, old_path, started = self._record, self._record_path, self._record_started
            alive = self.error is None and os.path.exists(f"/proc/{self.pid}")
            self._record = self._start_record() if old is not None and alive else None
            tally, self._tally = self._tally, Tally()
            dump_cpu, self._dump_cpu = self._dump_cpu, 0.0
            t_start, self._window_start = self._window_start, t_end
        spy_cpu = dump_cpu
        if old is not None:
            if old.poll() is None:
                old.send_signal(signal.SIGINT)
            spy_cpu += _reap(old, STOP_TIMEOUT_S)
            stderr = self._stderr_of(old_path)
            self._read_record(old_path, tally)
            if old.returncode not in (0, None) and tally.samples == 0 and self.error is None:
                # Only a reason that will not go away turns stacks off: a record stopped before it had attached
                # (two windows closing a tick apart) fails too, and the next window is fine.
                reason = explain_failure(self.pid, stderr)
                if not reason.startswith("py-spy failed on pid"):
                    self.error = reason
        if not alive and self.error is None:
            self.error = f"pid {self.pid} exited: stacks are off"
        if tally.samples == 0:
            return None
        wall = max(1e-3, time.monotonic() - started) if old is not None else 1.0
        names, folded = tally.folded_stacks()
        return StackWindow(
            t_start=t_start, t_end=t_end, pid=self.pid, samples=tally.samples, functions=tally.functions(),
            threads=tally.thread_states(), gil_pct=tally.gil_pct(), spy_cpu_pct=round(100.0 * spy_cpu / wall, 2),
            error=self.error or "", names=names, folded=folded,
        )

    # -- py-spy processes --------------------------------------------------------------------------------
    def _start_record(self) -> subprocess.Popen[bytes] | None:
        assert self._binary is not None
        self._seq += 1
        path = os.path.join(self._dir, f"window-{self._seq}.raw")
        cmd = [self._binary, "record", "--format", "raw", "--nonblocking", "--threads", "--idle",
               "--full-filenames", "--rate", str(self.current_rate()), "--output", path, "--pid", str(self.pid)]
        if self.subprocesses:
            cmd.append("--subprocesses")
        with open(path + ".err", "wb") as err:
            try:
                # its own session: a terminal Ctrl-C must not end it early; PDEATHSIG: a kill -9 of us ends it
                argv, preexec = dying_with_parent(cmd)
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                        start_new_session=True, preexec_fn=preexec)
            except OSError as exc:
                self.error = f"py-spy could not start ({exc}): stacks are off"
                return None
        self._record_path, self._record_started = path, time.monotonic()
        return proc

    def _threads(self) -> int:
        try:
            return max(1, len(os.listdir(f"/proc/{self.pid}/task")))
        except OSError:
            return 1

    def current_rate(self) -> int:
        """Samples per second for the next window: py-spy reads every thread on every sample, so its cost grows
        with the thread count; keep thread-samples per second near THREAD_SAMPLES_PER_S (a few % of a core)."""
        return int(max(MIN_RATE_HZ, min(self.rate_hz, THREAD_SAMPLES_PER_S / self._threads())))  # py-spy takes ints

    def _stderr_of(self, path: str) -> str:
        try:
            return Path(path + ".err").read_text(errors="replace")
        except OSError:
            return ""

    def _read_record(self, path: str, tally: Tally) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parsed = parse_raw_line(line)
                    if parsed is not None:
                        tally.add_stack(*parsed)
        except OSError:
            pass
        for p in (path, path + ".err"):
            with contextlib.suppress(OSError):
                os.unlink(p)

    def _dump_once(self) -> list[tuple[int, str, bool, bool, list[Frame]]] | None:
        """One `py-spy dump --json`; None (and ``error`` set if it is the first) when it fails."""
        assert self._binary is not None
        cmd = [self._binary, "dump", "--json", "--nonblocking", "--pid", str(self.pid)]
        if self.subprocesses:
            cmd.append("--subprocesses")
        try:
            argv, preexec = dying_with_parent(cmd)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, preexec_fn=preexec)
        except OSError as exc:
            self.error = f"py-spy could not start ({exc}): stacks are off"
            return None
        timer = threading.Timer(DUMP_TIMEOUT_S, proc.kill)
        timer.start()
        try:
            out, err = proc.stdout.read() if proc.stdout else b"", proc.stderr.read() if proc.stderr else b""
        finally:
            timer.cancel()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        cpu = _reap(proc, DUMP_TIMEOUT_S)
        with self._lock:
            self._dump_cpu += cpu
        if proc.returncode != 0:
            if self._record is None and self.error is None:
                self.error = explain_failure(self.pid, err.decode(errors="replace"))
            return None
        try:
            return _dump_threads(json.loads(out))
        except (ValueError, TypeError):
            return None

    def _dump_loop(self) -> None:
        # a dump reads every thread too: with many threads, dump less often
        while not self._stop.wait(self.dump_every * max(1.0, self._threads() / DUMP_THREADS)):
            rows = self._dump_once()
            if rows is None:
                if not os.path.exists(f"/proc/{self.pid}"):
                    return
                continue
            with self._lock:
                self._tally.add_dump(rows)
