"""Two real demo runs that differ by one setting (the lock demo with twice the workers) compare as they should:
the magic number about doubles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT


def bottlenecktop(*args: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_lock_demo_with_twice_the_workers_doubles_the_magic_number(tmp_path: Path) -> None:
    runs = {}
    for workers in (4, 8):
        path = tmp_path / f"lock-{workers}.jsonl.gz"
        result = bottlenecktop("demo", "--bottleneck", "lock", "--workers", str(workers), "--headless",
                               "--start-rps", "100", "--step-seconds", "2", "--max-time", "90",
                               "--record", str(path))
        assert result.returncode == 0, result.stderr[-2000:]
        runs[workers] = path
    out = tmp_path / "cmp.json"
    result = bottlenecktop("compare", str(runs[4]), str(runs[8]), "--headless", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "magic" in result.stdout.lower()
    cmp = json.loads(out.read_text())
    a, b = cmp["magic_number"]["a"], cmp["magic_number"]["b"]
    assert 180 <= a <= 220, cmp["magic_number"]
    assert 1.6 <= b / a <= 2.4, cmp["magic_number"]
