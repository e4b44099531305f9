"""End to end in a real terminal: `bottlenecktop demo` in tmux shows the ramp and, when it is done, the verdict
on the top line; `q` quits with status 0 and leaves a recording whose verdict is the one on screen."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bottlenecktop.recording import read_recording
from tests.support.paths import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/test installs it)")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def wait_for(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")


@pytest.mark.slow
def test_demo_in_tmux_shows_the_verdict_and_quits_cleanly(tmp_path: Path) -> None:
    session = f"btop-{uuid.uuid4().hex[:8]}"
    recording = tmp_path / "run.jsonl.gz"
    status_file = tmp_path / "status"
    cmd = " ".join(shlex.quote(a) for a in [
        sys.executable, "-m", "bottlenecktop", "demo", "--bottleneck", "lock", "--start-rps", "100",
        "--step-seconds", "2", "--max-time", "90", "--record", str(recording)])
    shell = f"cd {shlex.quote(str(ROOT))} && {cmd}; echo $? > {shlex.quote(str(status_file))}; sleep 5"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", shell], check=True,
                   timeout=10)
    try:
        ramping = wait_for(session, r"RAMPING|SEARCHING|CONFIRMING", 30)
        assert "load" in ramping and "resources" in ramping
        done = wait_for(session, r"DONE +magic [\d,]+ req/s", 120)
        top = done.splitlines()[0]
        magic = float(re.search(r"magic ([\d,]+) req/s", top).group(1).replace(",", ""))  # type: ignore[union-attr]
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert status_file.read_text().strip() == "0"
    finally:
        tmux("kill-session", "-t", session)
    rec = read_recording(recording)
    assert rec.verdict is not None
    assert abs(magic - 200) <= 20, top
    assert round(rec.verdict.capacity.max_sustainable_rps or 0) == round(magic)
    resource = rec.verdict.bottleneck.resource
    assert (resource in top) if resource != "none" else ("no bottleneck" in top), top
