"""Compare two recorded sessions: one whose target has twice the capacity of the other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bottlenecktop.compare import compare_rows, compare_sessions, compare_table, cpu_ms_per_request, interpolate
from bottlenecktop.recording import read_recording, session_from_recording
from bottlenecktop.tui.compare import differences
from bottlenecktop.verdict_types import Verdict
from tests.support.recording_synth import ramp_frames, verdict_for, write_recording


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    fa = ramp_frames(150.0, cpu_ms_per_req=4.0, hot="render (app.py:88)", seed=1)
    fb = ramp_frames(300.0, cpu_ms_per_req=2.0, hot="render_fast (app.py:90)", seed=2)
    a = write_recording(tmp_path / "one-worker.jsonl.gz", fa, verdict_for(fa, "lock"))
    b = write_recording(tmp_path / "two-workers.jsonl.gz", fb, verdict_for(fb, "cpu-thread"))
    return a, b


def test_twice_the_capacity_shows_as_about_twice_the_magic_number(pair: tuple[Path, Path]) -> None:
    a, b = (read_recording(p) for p in pair)
    cmp = compare_sessions(a, b)
    assert cmp["labels"] == {"a": "one-worker", "b": "two-workers"}
    m = cmp["magic_number"]
    assert m["a"] == 101.25 and m["b"] == 227.82  # the last sustained steps of the x1.5 ramp
    assert 1.5 <= m["ratio"] <= 2.5
    # At equal offered rate the bigger target has the lower p99.
    assert cmp["p99_at_equal_rate"]
    for row in cmp["p99_at_equal_rate"]:
        assert row["b"] <= row["a"]
    low = cmp["p99_at_lower_magic"]
    assert low["offered_rps"] == 101.25 and low["b"] < low["a"]
    assert cmp["cpu_ms_per_request"]["a"] == pytest.approx(4.0, rel=0.01)
    assert cmp["cpu_ms_per_request"]["b"] == pytest.approx(2.0, rel=0.01)
    assert cmp["verdict"]["a"]["resource"] == "lock" and cmp["verdict"]["b"]["resource"] == "cpu-thread"
    top = {c["function"]: c for c in cmp["stack_changes"][:2]}
    assert set(top) == {"render (app.py:88)", "render_fast (app.py:90)"}
    assert top["render (app.py:88)"]["delta"] < -10 and top["render_fast (app.py:90)"]["delta"] > 10
    json.dumps(cmp)  # the --json FILE form


def test_the_table_names_both_and_each_difference(pair: tuple[Path, Path]) -> None:
    table = compare_table(compare_sessions(*(read_recording(p) for p in pair)))
    first = table.splitlines()[0]
    assert "one-worker" in first and "two-workers" in first
    for words in ("magic number", "101.2", "227.8", "p99 at 101 req/s", "CPU per request", "4.00 ms", "2.00 ms",
                  "bottleneck", "lock", "cpu-thread", "changed", "render_fast (app.py:90)"):
        assert words in table, words


def test_same_file_names_get_a_and_b(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    fr = ramp_frames(100.0, with_hist=False)
    a = read_recording(write_recording(tmp_path / "x" / "run.jsonl.gz", fr))
    b = read_recording(write_recording(tmp_path / "y" / "run.jsonl.gz", fr))
    cmp = compare_sessions(a, b)
    assert cmp["labels"] == {"a": "a: run", "b": "b: run"}
    assert cmp["magic_number"]["ratio"] == 1.0
    assert all(c["delta"] == 0 for c in cmp["stack_changes"])


def test_no_ramp_no_numbers_but_no_crash(tmp_path: Path) -> None:
    from bottlenecktop.session import Frame
    a = read_recording(write_recording(tmp_path / "a.jsonl.gz", [Frame(t=1.0), Frame(t=2.0)]))
    cmp = compare_sessions(a, a)
    assert cmp["magic_number"] == {"a": None, "b": None, "ratio": None}
    assert cmp["p99_at_equal_rate"] == [] and cmp["p99_at_lower_magic"] is None
    assert "magic number" in compare_table(cmp)


def test_interpolation_and_cpu_per_request() -> None:
    curve = [(100.0, 10.0), (200.0, 30.0)]
    assert interpolate(curve, 150.0) == 20.0
    assert interpolate(curve, 100.0) == 10.0
    assert interpolate(curve, 250.0) is None
    assert cpu_ms_per_request(Verdict()) is None


def test_headless_and_screen_compares_of_killed_runs_name_the_same_bottleneck(tmp_path: Path) -> None:
    """Runs killed before their verdict was written (no verdict record): both compares build it from the frames."""
    paths = []
    for name, capacity in (("killed-a", 150.0), ("killed-b", 300.0)):
        frames = ramp_frames(capacity, cpu_ms_per_req=99.0 / capacity * 10, step_s=6)[:-1]  # no outcome either
        paths.append(write_recording(tmp_path / f"{name}.jsonl.gz", frames))
    a, b = (read_recording(p) for p in paths)
    assert a.verdict is None and b.verdict is None
    headless = {row[0]: row for row in compare_rows(compare_sessions(a, b))}
    screen = {row[0]: row for row in differences(session_from_recording(a), session_from_recording(b))}
    assert headless["bottleneck"] == screen["bottleneck"] == ("bottleneck", "cpu-thread", "cpu-thread", "same")
    assert headless["  scope"] == screen["  scope"]
    assert headless["magic number (req/s)"] == screen["magic number (req/s)"]
    assert headless["magic number (req/s)"][1:3] == ("101.2", "227.8")
    line = next(ln for ln in compare_table(compare_sessions(a, b)).splitlines() if ln.startswith("bottleneck"))
    assert line.split() == ["bottleneck", "cpu-thread", "cpu-thread", "same"]
