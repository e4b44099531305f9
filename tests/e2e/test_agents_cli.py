"""End to end: `bottlenecktop URL --agents 2 --headless --json v.json` against a target of 200 req/s by
construction (4 slots x 20 ms) gives a verdict whose `load.agents` lists both agents with their figures, whose
magic number agrees with a run of the one built-in driver, and whose recording replays with the agents shown
(the headless summary and the screen's process panel)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.servers import spawn_server_process
from tests.support.verdict_shape import verdict_problems

pytest.importorskip("distributed")

CAPACITY = 200.0  # 4 slots x 1000 / 20 ms


@dataclass
class Runs:
    one: dict  # the verdict of the one built-in driver
    two: dict  # with --agents 2
    recording: Path  # the --agents 2 run's
    stdout: str


def _ramp(url: str, out: Path, *extra: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    verdict = out / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", url, "--yes", "--headless", "--json", str(verdict),
           "--record", str(out / "run.btrec"), "--start-rps", "100", "--step-seconds", "2", "--max-time", "90",
           *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and verdict.exists(), result.stderr[-3000:]
    return json.loads(verdict.read_text()), result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    proc, port = spawn_server_process(slots=4, work_ms=20.0)
    try:
        url = f"http://127.0.0.1:{port}/"
        one_dir, two_dir = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
        one, _ = _ramp(url, one_dir)
        two, result = _ramp(url, two_dir, "--agents", "2")
        yield Runs(one=one, two=two, recording=two_dir / "run.btrec", stdout=result.stdout)
    finally:
        proc.kill()
        proc.wait(10)


def test_two_agents_list_their_figures_and_agree_with_one_driver(runs: Runs) -> None:
    assert verdict_problems(runs.two) == []
    load = runs.two["load"]
    assert load["count"] == 2 and [a["agent"] for a in load["agents"]] == [0, 1], load
    magic = runs.two["capacity"]["max_sustainable_rps"]
    for a in load["agents"]:
        # Each agent took its half of the step the magic number comes from, and its driver was seen working.
        assert a["pid"] > 0 and a["host"], a
        assert abs(a["offered_rps"] - magic / 2) <= 0.1 * magic / 2, (a, magic)
        assert abs(a["achieved_rps"] - a["offered_rps"]) <= 0.05 * a["offered_rps"] + 2, a
        assert 0 < a["cpu_pct"] <= a["peak_cpu_pct"] and not a["lost"], a
    one = runs.one["capacity"]["max_sustainable_rps"]
    print(f"magic number: one driver {one} req/s, two agents {magic} req/s")
    assert 0.9 * CAPACITY <= one <= 1.1 * CAPACITY and 0.9 * CAPACITY <= magic <= 1.1 * CAPACITY
    assert abs(magic - one) <= 0.1 * one
    assert "Load agents: 2" in runs.stdout


def test_replay_shows_the_agents(runs: Runs) -> None:
    result = subprocess.run([sys.executable, "-m", "bottlenecktop", "replay", str(runs.recording), "--headless"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("Load agents: 2 at ") for line in lines), result.stdout
    for n in (0, 1):
        assert any(line.strip().startswith(f"- agent {n} on ") and "late" in line for line in lines), result.stdout


async def test_the_replay_screen_shows_each_agent_at_the_cursor(runs: Runs) -> None:
    from bottlenecktop.recording import read_recording, session_from_recording
    from bottlenecktop.tui.app import BottleneckApp

    session = session_from_recording(read_recording(runs.recording))
    app = BottleneckApp(session, None, mode="replay")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        # Step back into the ramp (the last seconds may follow the last step): the panel follows the cursor.
        await pilot.press("k")
        await pilot.pause()
        text = str(app.query_one("#process").render())
        assert "agent 0 " in text and "agent 1 " in text, text
        assert "/s cpu " in text, text
