"""Headless works in every live mode: a URL ramp (with --goal-rps deciding the exit status), --pid for
--max-time, and plain observe mode. Each writes a verdict in the bottlenecktop.verdict/1 shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.probe_children import NAMED_HOT_THREAD, child
from tests.support.servers import CapacityServer
from tests.support.verdict_shape import verdict_problems


def bottlenecktop(*args: str, timeout: float = 120.0) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = Path(args[args.index("--json") + 1])
    result = subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    assert out.exists(), result.stderr
    verdict = json.loads(out.read_text())
    assert verdict_problems(verdict) == []
    return result, verdict


@pytest.mark.slow
def test_url_ramp_with_an_unreachable_goal_exits_1_with_a_plan(tmp_path: Path) -> None:
    with CapacityServer(slots=4, work_ms=20.0) as server:
        result, verdict = bottlenecktop(server.url, "--headless", "--json", str(tmp_path / "v.json"), "--no-record",
                                        "--start-rps", "100", "--step-seconds", "1.5", "--goal-rps", "1000")
    assert result.returncode == 1, result.stderr[-2000:]
    assert 180 <= verdict["capacity"]["max_sustainable_rps"] <= 220
    assert verdict["plan"]["goal_met"] is False and verdict["plan"]["machines"] >= 5
    assert "step" in result.stderr and "Magic number" in result.stdout


def test_attach_to_a_pid_names_its_hot_thread(tmp_path: Path) -> None:
    with child(NAMED_HOT_THREAD, seconds=30) as (proc, _):
        result, verdict = bottlenecktop("--pid", str(proc.pid), "--headless", "--max-time", "9", "--json",
                                        str(tmp_path / "v.json"), "--no-record")
    assert result.returncode == 0, result.stderr
    assert verdict["target"]["pid"] == proc.pid and verdict["capacity"]["max_sustainable_rps"] is None
    assert verdict["bottleneck"]["resource"] == "cpu-thread", verdict["bottleneck"]
    assert "renderer" in verdict["bottleneck"]["scope"]
    assert any("render_page" in e for e in verdict["bottleneck"]["evidence"])


def test_plain_observe_mode_runs_for_max_time(tmp_path: Path) -> None:
    result, verdict = bottlenecktop("--headless", "--max-time", "3", "--json", str(tmp_path / "v.json"),
                                    "--record", str(tmp_path / "r.jsonl.gz"))
    assert result.returncode == 0, result.stderr
    assert verdict["target"]["url"] is None and verdict["recording"] == str(tmp_path / "r.jsonl.gz")
    assert "observing this node" in result.stderr
