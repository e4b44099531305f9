"""End to end, headless: `bottlenecktop demo --bottleneck KIND` names the right resource for every demo kind and
finds the magic number within +-10 % where the capacity is known by construction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.recording import read_recording
from tests.support.paths import ROOT
from tests.support.verdict_shape import verdict_problems

# kind -> (extra args, the resource a person would name, capacity by construction or None)
KINDS: dict[str, tuple[list[str], set[str], float | None]] = {
    "lock": (["--start-rps", "100"], {"lock"}, 200.0),
    "downstream": (["--start-rps", "80"], {"downstream"}, 160.0),
    "gil": (["--start-rps", "45"], {"cpu-thread"}, None),  # against what it delivered: see the test
    "cpu": (["--start-rps", "60", "--work-ms", "10"], {"cpu"}, None),
    "disk": (["--start-rps", "100"], {"disk"}, None),
    "fds": (["--start-rps", "20"], {"fds"}, None),
}


def run_demo(kind: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    extra, _, _ = KINDS[kind]
    verdict_path = tmp_path / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", "demo", "--bottleneck", kind, *extra, "--headless",
           "--json", str(verdict_path), "--record", str(tmp_path / "run.btrec"), "--step-seconds", "2",
           "--max-time", "90"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert verdict_path.exists(), result.stderr[-3000:]
    return result, json.loads(verdict_path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_demo_kind_names_its_bottleneck(kind: str, tmp_path: Path) -> None:
    result, verdict = run_demo(kind, tmp_path)
    _, expected, capacity = KINDS[kind]
    assert verdict_problems(verdict) == []
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Magic number" in result.stdout or "magic number" in result.stdout.lower()
    got = verdict["bottleneck"]["resource"]
    assert got in expected, f"{kind}: got {got}\n{result.stdout}\n{result.stderr[-2000:]}"
    assert verdict["bottleneck"]["evidence"], verdict
    if capacity is not None:
        best = verdict["capacity"]["max_sustainable_rps"]
        assert best is not None and abs(best - capacity) <= 0.10 * capacity, f"{kind}: {best} vs {capacity}"
    assert verdict["recording"] == str(tmp_path / "run.btrec")
    if kind == "gil":
        # One GIL: 1000 / work_ms = 100 req/s at most, less what its hand-offs cost (a thread per connection
        # waits up to the 5 ms switch interval for the GIL: 91-94 req/s measured here). The magic number is
        # checked against the most this run's target delivered (a step is sustained at 95 % of its offered
        # rate, so the magic number may be up to 1 / 0.95 of it), and that against the design.
        ceiling = max(s.achieved_rps for s in steps_of(read_recording(tmp_path / "run.btrec").frames))
        best = verdict["capacity"]["max_sustainable_rps"]
        assert 88.0 <= ceiling <= 105.0, f"gil: the target delivered at most {ceiling} req/s, designed for 100"
        assert best is not None and 0.90 * ceiling <= best <= ceiling / 0.95, f"gil: {best} vs {ceiling} delivered"
    _check_next_question(kind, verdict, result.stdout)


def _check_next_question(kind: str, verdict: dict, stdout: str) -> None:
    """what_if where a law applies to the kind's resource, and the admission limit of every ramp that hit one."""
    magic = verdict["capacity"]["max_sustainable_rps"]
    what_if = verdict["what_if"]
    if kind == "lock":
        # Slots / hold time: the same slots with half the hold admit twice the rate (no other ceiling is near:
        # the lock demo's CPU per request is a fraction of a millisecond).
        [w] = what_if
        assert w["resource"] == "lock" and w["factor"] == 2.0 and w["estimate_rps"] == round(2 * magic, 1), w
        assert "What if: the time each request holds the lock halved" in stdout
    elif kind == "cpu":
        [w] = what_if
        assert w["resource"] == "cpu" and 1.0 < w["factor"] <= 2.0, w
        assert "Amdahl's law" in w["basis"] or "CPU per request" in w["basis"], w
    elif kind == "downstream":
        assert [w["resource"] for w in what_if] == ["downstream"], what_if
    admission = verdict["admission"]
    assert admission is not None and admission["refuse_above_rps"] == magic, admission
    assert admission["max_in_flight"] >= 1 and "Little's law" in admission["basis"]
    assert "Admission: let at most" in stdout
