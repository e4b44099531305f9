"""A terminal that goes away without a SIGHUP must not lose the run: the screen in a tmux whose server is stopped
(nobody reads the terminal, so the screen's writes block for ever, as behind a hung SSH session), and --json to a
FIFO that nobody opens. A signal still ends the run within seconds, and a screen that stops for good is closed as
a hangup; either way the recording is closed with its verdict."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bottlenecktop.app.live import CLOSE_GRACE_S
from bottlenecktop.app.screen_watch import SCREEN_GONE_S
from bottlenecktop.outputs import WAIT_S
from bottlenecktop.recording import read_recording
from tests.support.paths import ROOT

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/test installs it)")]

# Where a thread sleeps while its write to a terminal waits for room (the reader stopped reading).
TTY_WAITS = ("n_tty_write", "wait_woken", "tty_write")


def _ours(server: int, marker: str) -> psutil.Process:
    """bottlenecktop's process under the tmux server (by the unique marker in its command line)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for p in psutil.Process(server).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmd = p.cmdline()
                if "bottlenecktop" in cmd and marker in " ".join(cmd):
                    return p
        time.sleep(0.2)
    raise AssertionError("bottlenecktop did not start under tmux")


def _blocked_on_the_terminal(proc: psutil.Process) -> bool:
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if (task / "wchan").read_text().strip() in TTY_WAITS:
                return True
    return False


@contextlib.contextmanager
def stuck_screen(tmp_path: Path) -> Iterator[tuple[psutil.Process, Path, Path, Path]]:
    """bottlenecktop's live screen (observe mode, recording, --json) in a tmux server of its own, which is then
    stopped: once the terminal's buffer is full, every write of the screen blocks. Yields the process, the
    recording, the verdict file and the file its exit status goes to, once a thread of it waits on the
    terminal."""
    socket = f"btop-stuck-{uuid.uuid4().hex[:8]}"
    rec, verdict, status = tmp_path / "r.btrec", tmp_path / "v.json", tmp_path / "status"
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bottlenecktop", "--record", str(rec),
                                            "--json", str(verdict)])
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", "s", "-x", "200", "-y", "60",
                    f"cd {shlex.quote(str(ROOT))} && {cmd}; echo $? > {shlex.quote(str(status))}; sleep 60"],
                   check=True, timeout=10)
    server = int(subprocess.run(["tmux", "-L", socket, "display", "-p", "#{pid}"], capture_output=True, text=True,
                                check=True, timeout=10).stdout)
    try:
        ours = _ours(server, str(rec))
        time.sleep(3)  # the screen is up
        os.kill(server, signal.SIGSTOP)
        deadline = time.monotonic() + 90
        while not _blocked_on_the_terminal(ours):
            assert time.monotonic() < deadline, "the screen's writes never blocked"
            time.sleep(0.5)
        yield ours, rec, verdict, status
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGCONT)
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10, check=False)


def _exit_status(ours: psutil.Process, status: Path, timeout: float) -> int:
    """The exit status the shell in tmux wrote (the process is not our child: psutil cannot give it)."""
    ours.wait(timeout=timeout)
    deadline = time.monotonic() + 5
    while not status.exists() or not status.read_text().strip():
        assert time.monotonic() < deadline, "no exit status was written"
        time.sleep(0.1)
    return int(status.read_text())


def _closed_with_its_verdict(rec: Path, verdict: Path) -> None:
    recording = read_recording(rec)
    assert recording.closed and recording.verdict is not None, recording.notice
    assert json.loads(verdict.read_text())["schema"] == "bottlenecktop.verdict/1"


def test_sigterm_ends_a_screen_stuck_on_its_terminal_within_seconds(tmp_path: Path) -> None:
    with stuck_screen(tmp_path) as (ours, rec, verdict, status_file):
        ours.send_signal(signal.SIGTERM)
        started = time.monotonic()
        status = _exit_status(ours, status_file, timeout=30)
        took = time.monotonic() - started
    assert status == 143
    assert took < 2 * CLOSE_GRACE_S + 5, f"{took:.1f} s from SIGTERM to the end"
    _closed_with_its_verdict(rec, verdict)


def test_a_screen_stuck_on_its_terminal_is_closed_as_a_hangup(tmp_path: Path) -> None:
    with stuck_screen(tmp_path) as (ours, rec, verdict, status_file):
        # the screen's loop blocks only once Textual's queue of writes behind the blocked one is full (a tick or two
        # of writes each, so up to half a minute on a quiet node), then SCREEN_GONE_S more, then the close
        status = _exit_status(ours, status_file, timeout=SCREEN_GONE_S + 2 * CLOSE_GRACE_S + 90)
    assert status == 129
    _closed_with_its_verdict(rec, verdict)


def test_json_to_a_fifo_nobody_reads_ends_within_seconds(tmp_path: Path) -> None:
    fifo = tmp_path / "verdict.fifo"
    os.mkfifo(fifo)
    rec = tmp_path / "r.btrec"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "bottlenecktop", "--headless", "--max-time", "2", "--record",
                             str(rec), "--json", str(fifo)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert f"nothing read from it within {WAIT_S:g} s" in result.stderr and "Traceback" not in result.stderr
    assert took < 2 + WAIT_S + 15, took
    assert read_recording(rec).closed


def test_sigterm_while_the_json_waits_for_a_fifo_reader_ends_within_seconds(tmp_path: Path) -> None:
    fifo = tmp_path / "verdict.fifo"
    os.mkfifo(fifo)
    rec = tmp_path / "r.btrec"
    proc = subprocess.Popen([sys.executable, "-m", "bottlenecktop", "--headless", "--max-time", "2", "--record",
                             str(rec), "--json", str(fifo)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not read_recording_closed(rec):  # the run is over: the verdict now waits for a reader
            assert time.monotonic() < deadline and proc.poll() is None, "the run did not reach its --json"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        proc.kill()
    assert took < WAIT_S + 2 * CLOSE_GRACE_S, took
    assert proc.returncode in (1, 143) and "Traceback" not in err, err


def read_recording_closed(rec: Path) -> bool:
    with contextlib.suppress(Exception):
        return read_recording(rec).closed
    return False
