"""The README's first command, as a newcomer runs it: `bottlenecktop demo` (the cpu kind, default options) on the
live screen in tmux must end naming `cpu` on its top line, the screen's own CPU counted as the observer's; and
headless, the same. A ramp that found a limit must not end with "no bottleneck"."""

from __future__ import annotations

import json
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

MAX_TIME_S = 120


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def _wait_for(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/test installs it)")
def test_default_demo_on_the_live_screen_ends_naming_cpu(tmp_path: Path) -> None:
    session = f"btop-{uuid.uuid4().hex[:8]}"
    recording = tmp_path / "run.btrec"
    status_file = tmp_path / "status"
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bottlenecktop", "demo", "--max-time",
                                            str(MAX_TIME_S), "--record", str(recording)])
    shell = f"cd {shlex.quote(str(ROOT))} && {cmd}; echo $? > {shlex.quote(str(status_file))}; sleep 5"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", shell], check=True,
                   timeout=10)
    try:
        done = _wait_for(session, r"DONE +magic [\d,]+ req/s", MAX_TIME_S + 30)
        top = done.splitlines()[0]
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        _tmux("kill-session", "-t", session)
    rec = read_recording(recording)
    assert rec.verdict is not None
    neck = rec.verdict.bottleneck
    assert neck.resource == "cpu", f"{top}\n{neck}"
    assert "cpu" in top and "no bottleneck" not in top, top


@pytest.mark.slow
def test_default_demo_headless_ends_naming_cpu(tmp_path: Path) -> None:
    verdict_path = tmp_path / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", "demo", "--headless", "--json", str(verdict_path),
           "--max-time", str(MAX_TIME_S), "--record", str(tmp_path / "run.btrec")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_TIME_S + 60, cwd=ROOT,
                            stdin=subprocess.DEVNULL)
    assert verdict_path.exists(), result.stderr[-3000:]
    neck = json.loads(verdict_path.read_text())["bottleneck"]
    assert neck["resource"] == "cpu", f"{neck}\n{result.stdout[-2500:]}"
