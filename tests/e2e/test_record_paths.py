"""Where a recording goes: a --record path that cannot be created is refused before the run (one line, exit 2,
nothing started), and a default location that cannot be written says 'not recording' once and runs on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL, env=env)


@pytest.mark.parametrize(("where", "says"), [("under-a-file", "no such directory"), ("existing", "never overwritten"),
                                             ("dangling-link", "never overwritten"), ("in-proc", "not recording")])
def test_a_record_path_that_cannot_be_created_is_refused_before_the_run(tmp_path: Path, where: str,
                                                                         says: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "old.btrec").write_text("an earlier recording")
    (tmp_path / "link.btrec").symlink_to(tmp_path / "nowhere")
    path = {"under-a-file": tmp_path / "file" / "r.btrec", "existing": tmp_path / "old.btrec",
            "dangling-link": tmp_path / "link.btrec", "in-proc": Path("/proc/r.btrec")}[where]
    result = run_cli("--headless", "--max-time", "1", "--record", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr  # no "observing ..." line: nothing ran
    assert (tmp_path / "old.btrec").read_text() == "an earlier recording"
    assert not (tmp_path / "nowhere").exists()


def test_an_unwritable_default_location_says_not_recording_once(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    result = run_cli("--headless", "--max-time", "2", env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("not recording:") == 1, result.stderr
    assert "Traceback" not in result.stderr
