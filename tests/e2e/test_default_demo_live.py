"""The README's first command, as a newcomer runs it: typed from a fresh clone's root, `bottlenecktop demo` (the cpu
kind, default options) on the live screen in tmux must end naming `cpu` on its top line, the screen's own CPU
counted as the observer's; and headless, the same. A ramp that found a limit must not end with "no bottleneck"."""

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
INSTALL_S = 300  # a fresh venv and a regular install, from the registry or its cache


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


def readme_first_command() -> str:
    """The README's first command (the line above its test command), without its comment."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block is not None, "the README opens with no sh block"
    return block.group(1).splitlines()[0].split("#", 1)[0].strip()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/test installs it)")
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a checkout")
def test_the_readmes_first_command_from_a_fresh_clones_root_ends_naming_cpu(tmp_path: Path) -> None:
    """As a new user: a clean clone of this checkout's HEAD, the README's first command typed in its root (a fresh
    venv, a regular install, the demo on the live screen). Its children must run the installed package, not the
    clone's bottlenecktop/ folder (where bottlenecktop.probes does not exist)."""
    command = readme_first_command()
    assert "pip install ." in command and "-e" not in command.split(), command
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    session = f"btop-{uuid.uuid4().hex[:8]}"
    data, status_file = tmp_path / "data", tmp_path / "status"
    # Recordings go under XDG_DATA_HOME (platformdirs), here the test's folder; the command runs as written.
    shell = (f"cd {shlex.quote(str(clone))} && export XDG_DATA_HOME={shlex.quote(str(data))} && "
             f"{{ {command}; }}; echo $? > {shlex.quote(str(status_file))}; sleep 5")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", shell], check=True,
                   timeout=10)
    try:
        # the final verdict's bar ("so far" shows while it is computed), or a failed run's
        done = _wait_for(session, r"DONE +magic [\d,]+ req/s|FAILED ", INSTALL_S + MAX_TIME_S)
        top = done.splitlines()[0]
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        _tmux("kill-session", "-t", session)
    print("\n".join(done.splitlines()[:2]))  # the closing note quotes these
    assert "magic" in top and "cpu is the bottleneck" in top and "no bottleneck" not in top, done
    assert status_file.read_text().strip() == "0", done
    installed = list((clone / ".venv" / "lib").glob("python3*/site-packages/bottlenecktop/probes/load/worker"))
    assert installed, "the package was not installed into the clone's venv as a regular install"
    recordings = list((data / "bottlenecktop" / "recordings").glob("*"))
    assert len(recordings) == 1, recordings
    rec = read_recording(recordings[0])
    assert rec.verdict is not None and rec.verdict.bottleneck.resource == "cpu", rec.verdict


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
