"""A live run stops cleanly on SIGINT and SIGTERM, and leaves nothing behind even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bottlenecktop.recording import read_recording
from tests.support.paths import ROOT


def start_demo_run(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bottlenecktop", "demo", "--bottleneck", "lock", "--headless",
           "--record", str(tmp_path / "run.btrec"), "--json", str(tmp_path / "v.json"), "--max-time", "60", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def wait_for_frames(path: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(read_recording(path).frames) >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"fewer than {count} frames in {path} after {timeout} s")


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def listening_ports(pids: set[int] | None = None) -> set[int]:
    """Ports in LISTEN state, of the given processes or of any."""
    return {c.laddr.port for c in psutil.net_connections("tcp")
            if c.status == "LISTEN" and isinstance(c.laddr, tuple) and c.laddr and (pids is None or c.pid in pids)}


def all_gone(procs: list[psutil.Process], timeout: float = 8.0) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_ramp_and_closes_the_recording(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_demo_run(tmp_path)
    try:
        wait_for_frames(tmp_path / "run.btrec", 4)
        children = descendants(proc.pid)
        assert children, "the demo and the driver run as child processes"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 128 + sig, err  # 130 / 143: the run was interrupted, after the clean close
    assert "Magic number" in out or "Bottleneck" in out, out
    rec = read_recording(tmp_path / "run.btrec")
    assert rec.verdict is not None and rec.closed, rec.notice
    assert (tmp_path / "v.json").exists()
    assert all_gone(children) == []


def test_sigkill_leaves_no_process_and_a_readable_recording(tmp_path: Path) -> None:
    proc = start_demo_run(tmp_path)
    try:
        wait_for_frames(tmp_path / "run.btrec", 4)
        children = descendants(proc.pid)
        ports = listening_ports({ch.pid for ch in children})
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert all_gone(children) == [], "a demo or driver process outlived bottlenecktop"
    assert ports and not ports & listening_ports()
    rec = read_recording(tmp_path / "run.btrec")
    assert len(rec.frames) >= 4 and rec.verdict is None
