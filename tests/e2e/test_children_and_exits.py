"""Every child dies with bottlenecktop, a failure in the tick loop still closes the run, and the exit status
says how the run ended: 130 / 143 after SIGINT / SIGTERM, 1 when stdout or stderr went away or the driver died."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bottlenecktop.recording import RecordingError, read_recording
from tests.support.paths import ROOT
from tests.support.probe_children import NAMED_HOT_THREAD, child, wait_until
from tests.support.servers import CapacityServer

CLI = [sys.executable, "-m", "bottlenecktop"]


def py_spies(target_pid: int) -> list[psutil.Process]:
    """Every py-spy process on the machine reading ``target_pid``, whoever its parent is now."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and os.path.basename(cmd[0]) == "py-spy" and str(target_pid) in cmd:
            found.append(p)
    return found


def frames_in(path: Path) -> int:
    """Frames recorded so far; 0 while the file is not there or still empty (the writer has just created it)."""
    try:
        return len(read_recording(path).frames)
    except (FileNotFoundError, RecordingError):
        return 0


def wait_for_frames(path: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if frames_in(path) >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"fewer than {count} frames in {path} after {timeout} s")


def test_py_spy_does_not_outlive_a_kill_9(tmp_path: Path) -> None:
    with child(NAMED_HOT_THREAD, seconds=60) as (target, _):
        proc = subprocess.Popen([*CLI, "--pid", str(target.pid), "--headless", "--max-time", "50",
                                 "--record", str(tmp_path / "r.btrec")], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: py_spies(target.pid), timeout=20), "py-spy never started"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert wait_until(lambda: not py_spies(target.pid), timeout=5), \
                f"py-spy outlived bottlenecktop: {[p.pid for p in py_spies(target.pid)]}"
        finally:
            proc.kill()
            for p in py_spies(target.pid):
                p.kill()


def test_stderr_that_goes_away_stops_the_probes_and_closes_the_recording(tmp_path: Path) -> None:
    """The issue's reproduction: ``bottlenecktop --pid P --headless --max-time 14 2>&1 >out | head -n1``, with a
    longer --max-time: observe mode says a line every 10 s, and that write to the closed pipe ends the run."""
    rec = tmp_path / "r.btrec"
    with child(NAMED_HOT_THREAD, seconds=60) as (target, _):
        script = (f"{sys.executable} -m bottlenecktop --pid {target.pid} --headless --max-time 40 --record {rec} "
                  f"2>&1 >{tmp_path / 'out'} | head -n1; echo \"status=${{PIPESTATUS[0]}}\"")
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        took = time.monotonic() - started
        status = int(re.search(r"status=(\d+)", result.stdout).group(1))  # type: ignore[union-attr]
        assert status == 1, result.stdout
        assert took < 30, "the run went on to --max-time after its stderr went away"
        assert wait_until(lambda: not py_spies(target.pid), timeout=5), "py-spy outlived the run"
    recording = read_recording(rec)
    assert recording.closed and recording.verdict is not None, recording.notice
    assert "Traceback" not in (tmp_path / "out").read_text()


def test_stdout_that_goes_away_ends_quietly_with_exit_1(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with child(NAMED_HOT_THREAD, seconds=60) as (target, _):
        try:
            result = subprocess.run([*CLI, "--pid", str(target.pid), "--headless", "--max-time", "3",
                                     "--record", str(tmp_path / "r.btrec")], cwd=ROOT, stdin=subprocess.DEVNULL,
                                    stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write_end)
        assert wait_until(lambda: not py_spies(target.pid), timeout=5)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert read_recording(tmp_path / "r.btrec").closed


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_with_128_plus_its_number_after_the_clean_close(tmp_path: Path, sig: signal.Signals,
                                                                       status: int) -> None:
    rec = tmp_path / "r.btrec"
    with child(NAMED_HOT_THREAD, seconds=60) as (target, _):
        proc = subprocess.Popen([*CLI, "--pid", str(target.pid), "--headless", "--max-time", "50", "--record",
                                 str(rec), "--json", str(tmp_path / "v.json")], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_frames(rec, 3)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert wait_until(lambda: not py_spies(target.pid), timeout=5)
    assert proc.returncode == status, err
    assert "Traceback" not in err and "Bottleneck" in out
    recording = read_recording(rec)
    assert recording.closed and recording.verdict is not None
    assert (tmp_path / "v.json").exists()


def test_a_driver_killed_mid_ramp_reports_a_lower_bound_and_exit_1(tmp_path: Path) -> None:
    rec = tmp_path / "r.btrec"
    with CapacityServer(slots=8, work_ms=5) as server:
        proc = subprocess.Popen([*CLI, server.url, "--headless", "--record", str(rec), "--step-seconds", "2",
                                 "--max-time", "60"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            def sustained_steps() -> int:
                try:
                    frames = read_recording(rec).frames
                except (FileNotFoundError, RecordingError):  # not created yet, or created and still empty
                    return 0
                return sum(1 for f in frames if f.step is not None and f.step.sustained)

            assert wait_until(lambda: sustained_steps() >= 3, timeout=40, step=0.3), "the ramp did not get going"
            header = read_recording(rec).header
            assert header.driver_pid is not None
            os.kill(header.driver_pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "driver exited" in err
    magic = re.search(r"Magic number: ([\d,]+) req/s", out)
    assert magic is not None, out
    assert float(magic.group(1).replace(",", "")) >= 10
    assert "cut short" in out and "lower bound" in out


# Python runs sitecustomize in every interpreter on PYTHONPATH before the main module: this one ends the load
# driver's process at its start, as a broken install or a missing module would, and leaves the rest running.
_DRIVER_DIES_AT_START = '''import os, sys
if "bottlenecktop.probes.load.worker" in sys.orig_argv:
    sys.stderr.write("Traceback (most recent call last):\\n  ...\\n"
                     "ModuleNotFoundError: No module named 'bottlenecktop.probes.load.engines.x'\\n")
    sys.stderr.flush()
    os._exit(1)
'''


def test_a_driver_that_cannot_start_fails_the_run_and_says_why(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_DRIVER_DIES_AT_START)
    env = {**os.environ, "PYTHONPATH": str(site)}
    rec, verdict_path = tmp_path / "r.btrec", tmp_path / "v.json"
    with CapacityServer(slots=8, work_ms=5) as server:
        proc = subprocess.run([*CLI, server.url, "--headless", "--record", str(rec), "--json", str(verdict_path),
                               "--max-time", "30"], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=env, timeout=60)
    why = "ModuleNotFoundError: No module named 'bottlenecktop.probes.load.engines.x'"
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert f"the load driver could not start (exit status 1): {why}" in proc.stderr, proc.stderr
    assert f"The run failed: the load driver could not start: {why}." in proc.stdout, proc.stdout
    assert "none found" not in proc.stdout and "no bottleneck" not in proc.stdout, proc.stdout
    verdict = json.loads(verdict_path.read_text())
    assert verdict["failure"] == f"the load driver could not start: {why}"
    assert verdict["capacity"]["ramp_end_reason"] == "driver-not-started"
    assert verdict["capacity"]["max_sustainable_rps"] is None and verdict["steps"] == []
    recording = read_recording(rec)  # the recording says the same, so replay does
    assert recording.closed and recording.verdict is not None
    assert recording.verdict.failure == verdict["failure"]
