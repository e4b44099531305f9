"""The outputs other tools read, from a real run (the lock demo, about 20 s, py-spy sampling its stacks), each read
back with the other side's reader: folded and speedscope against analysis.flame's tree of the same windows, the
HdrHistogram log with hdrh's HistogramLogReader against the recorded histogram windows, the CSV with DictReader."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bottlenecktop.analysis.flame import flame_tree
from bottlenecktop.analysis.verdict import step_rows
from bottlenecktop.probes.load.stats import decode_histogram
from bottlenecktop.recording import Recording, read_recording
from bottlenecktop.report_export import SECOND_COLUMNS, choose_window, frame_name
from tests.support.export_readers import check_speedscope, flame_paths, parse_folded, read_hlog, same_histogram, tree_of
from tests.support.paths import ROOT


def bottlenecktop(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    path = tmp_path_factory.mktemp("real") / "lock.jsonl.gz"
    result = bottlenecktop("demo", "--bottleneck", "lock", "--headless", "--start-rps", "50", "--step-seconds", "2",
                           "--max-time", "20", "--record", str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    return read_recording(path)


@pytest.mark.slow
def test_folded_and_speedscope_of_a_real_run_hold_its_flame_trees(real: Recording) -> None:
    assert real.path is not None
    if not any(f.stacks is not None and f.stacks.folded for f in real.frames):
        errors = {f.stacks.error for f in real.frames if f.stacks is not None}
        pytest.skip(f"py-spy sampled no stacks here: {errors or 'no stack windows'}")
    for window in ("run", "knee", "worst"):
        try:
            w = choose_window(real.frames, window)
        except ValueError:  # a run too short to have a knee with stacks
            assert window != "run"
            continue
        tree = flame_paths(flame_tree(w.windows))
        out = bottlenecktop("report", str(real.path), "--format", "folded", "--window", window)
        assert out.returncode == 0, (window, out.stderr)
        stacks = parse_folded(out.stdout)
        assert sum(stacks.values()) == tree[()] > 0, (window, w.label, out.stdout[-2000:])
        assert tree_of(stacks) == tree, (window, w.label)
        out = bottlenecktop("report", str(real.path), "--format", "speedscope", "--window", window)
        assert out.returncode == 0, (window, out.stderr)
        doc = json.loads(out.stdout)
        check_speedscope(doc)
        names = [f["name"] for f in doc["shared"]["frames"]]
        weights: Counter[tuple[str, ...]] = Counter()
        for sample, weight in zip(doc["profiles"][0]["samples"], doc["profiles"][0]["weights"], strict=True):
            weights[tuple(frame_name(names[i]) for i in sample)] += weight
        assert tree_of(weights) == tree


@pytest.mark.slow
def test_hlog_and_csv_of_a_real_run_read_back(real: Recording, tmp_path: Path) -> None:
    assert real.path is not None
    out = bottlenecktop("report", str(real.path), "--format", "hlog", "-o", str(tmp_path / "run.hlog"))
    assert out.returncode == 0, out.stderr
    got, start = read_hlog(tmp_path, (tmp_path / "run.hlog").read_text())
    assert start == pytest.approx(real.header.started_at, abs=1e-3)
    assert len(got) == len(real.hists) > 3  # a real recording keeps each step's seconds merged
    for h, w in zip(got, real.hists, strict=True):
        same_histogram(h, decode_histogram(w.hist))
    out = bottlenecktop("report", str(real.path), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    seconds = [f.load for f in real.frames if f.load is not None]
    assert tuple(rows[0]) == SECOND_COLUMNS and len(rows) == len(seconds) > 10
    for row, s in zip(rows, seconds, strict=True):
        assert float(row["t"]) == s.t and float(row["p99_ms"]) == s.p99_ms and int(row["completed"]) == s.completed
    # every answered request of the run is in the log once: HTTP errors have a latency, transport errors none
    completed = sum(int(r["completed"]) for r in rows)
    errors = sum(int(r[c]) for r in rows for c in r if c.startswith("errors_"))
    assert completed - errors <= sum(h.get_total_count() for h in got) <= completed
    out = bottlenecktop("report", str(real.path), "--format", "csv", "--table", "steps")
    steps = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [int(r["step"]) for r in steps] == [s.step for s in step_rows(real.frames)]
