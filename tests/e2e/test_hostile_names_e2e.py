"""A local process may name itself and its threads with anything (prctl, /proc/self/task/TID/comm): attached to
it, headless bottlenecktop's lines and verdict show those names as text. (The screens: tests/unit/
test_hostile_names.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bottlenecktop.recording import read_recording
from tests.support.paths import ROOT
from tests.support.probe_children import PRELUDE, child

# The "conceal" sequence that hid the verdict's text, a title change, and markup that crashed the screen.
HOT = PRELUDE + r"""
def hot(deadline):
    set_comm("\x1b[8m[/]\x1b]0;t\x07")
    x = 0
    while time.monotonic() < deadline:
        x += 1
with open("/proc/self/comm", "w") as f:
    f.write("\x1b[2J[link=x]")
t = threading.Thread(target=hot, args=(time.monotonic() + float(sys.argv[1]),), name="\x1b[8mhidden [/] thread")
t.start()
ready()
t.join()
"""
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.slow
def test_hostile_process_and_thread_names_are_text_in_the_headless_output(tmp_path: Path) -> None:
    rec = tmp_path / "r.btrec"
    with child(HOT, seconds=40) as (proc, _):
        result = subprocess.run([sys.executable, "-m", "bottlenecktop", "--pid", str(proc.pid), "--headless",
                                 "--max-time", "12", "--record", str(rec)], cwd=ROOT, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        bad = UNSAFE.search(stream)
        assert bad is None, f"{bad.group()!r} in {stream!r}"
    assert "Traceback" not in result.stderr
    # The names are there, as text: the recording keeps them as they were, the output escapes them.
    names = {th.name for f in read_recording(rec).frames if f.target is not None for th in f.target.threads}
    assert any("\x1b[8m" in n for n in names), names
    assert "\\x1b[8m" in result.stdout + result.stderr
