"""Outputs other tools read (report --format folded | speedscope | hlog | csv), each read back with the other side's
reader: folded lines parsed into a tree and compared with analysis.flame's, the speedscope file checked against
speedscope's own JSON schema, the HdrHistogram log read by hdrh's HistogramLogReader, the CSV by csv.DictReader.
Also the Grafana dashboard in docs/, on paper."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.analysis.flame import flame_tree, run_windows
from bottlenecktop.analysis.verdict import step_rows
from bottlenecktop.probes.load.stats import decode_histogram
from bottlenecktop.probes.samples import ERROR_CLASSES, FoldedStack, StackWindow
from bottlenecktop.recording import Recording, RecordingWriter, read_recording
from bottlenecktop.report import FORMATS, ReportError, render_report
from bottlenecktop.report_export import (
    NO_FRAMES,
    SECOND_COLUMNS,
    STEP_COLUMNS,
    check_options,
    choose_window,
    frame_name,
    parse_window,
)
from bottlenecktop.session import Frame, Target
from tests.support.export_readers import (
    SCHEMA,
    check_speedscope,
    flame_paths,
    parse_folded,
    read_hlog,
    same_histogram,
    schema_errors,
    tree_of,
)
from tests.support.paths import ROOT
from tests.support.recording_synth import header, ramp_frames, verdict_for, write_recording
from tests.support.timeline_builder import TimelineBuilder, load, node
from tests.support.timeline_builder import header as tl_header

# -- recordings ---------------------------------------------------------------------------------------------------


def _window(t_start: float, t_end: float, folded: list[tuple[list[str], int, str]]) -> StackWindow:
    names: dict[str, int] = {}
    stacks = [FoldedStack(frames=[names.setdefault(n, len(names)) for n in frames], count=count, state=state)
              for frames, count, state in folded]
    return StackWindow(t_start=t_start, t_end=t_end, pid=42, samples=sum(c for _, c, _ in folded),
                       names=list(names), folded=stacks)


def _stacked(frames: list[Frame], extra: list[tuple[list[str], int, str]] | None = None) -> list[Frame]:
    """``frames`` with folded stacks in each of their stack windows: a lock takes more of the time step by step,
    and a thread py-spy saw with no Python frame (an empty stack, as real runs record)."""
    out = []
    for f in frames:
        if f.stacks is not None:
            k = f.load.step if f.load is not None else 0
            f = msgspec.structs.replace(f, stacks=_window(f.stacks.t_start, f.stacks.t_end, [
                (["serve_forever (socketserver.py)", "handle (server.py)", "work (work.py)"], 100 + 10 * k,
                 "running"),
                (["serve_forever (socketserver.py)", "handle (server.py)", "work (work.py)",
                  "acquire (threading.py)"], 1 + 30 * k, "lock"),
                (["serve_forever (socketserver.py)", "handle (server.py)", "render (work.py)"], 7, "running"),
                ([], 1, "running"),
                *(extra or []),
            ]))
        out.append(f)
    return out


@pytest.fixture()
def per_second(tmp_path: Path) -> Recording:
    """A ramp whose frames keep their per-second histograms (RecordingWriter second_hists=True), with stacks."""
    frames = _stacked(ramp_frames(200.0))
    path = tmp_path / "seconds.jsonl.gz"
    with RecordingWriter(path, header(), second_hists=True) as writer:
        for f in frames:
            writer.append(f)
        writer.write_verdict(verdict_for(frames))
    assert writer.error is None
    return read_recording(path)


@pytest.fixture()
def merged(tmp_path: Path) -> Recording:
    """The default recording: a step's seconds merged into ``hist`` records, the frames without histograms."""
    frames = _stacked(ramp_frames(200.0))
    return read_recording(write_recording(tmp_path / "merged.jsonl.gz", frames, verdict_for(frames)))


# -- folded -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["run", "knee", "worst"])
def test_folded_lines_sum_to_the_windows_samples_and_draw_analysis_flames_tree(per_second: Recording,
                                                                                window: str) -> None:
    text = render_report(per_second, "folded", window=window)
    assert text.endswith("\n") and text == "".join(sorted(text.splitlines(keepends=True)))
    stacks = parse_folded(text)
    w = next(x for x in run_windows(per_second.frames) if x.kind == window) if window != "worst" else \
        choose_window(per_second.frames, "worst")
    tree = flame_tree(w.windows)
    assert sum(stacks.values()) == tree.count == sum(s.count for sw in w.windows for s in sw.folded)
    assert tree_of(stacks) == flame_paths(tree)


def test_the_knee_and_worst_windows_are_the_flame_screens(per_second: Recording) -> None:
    by_kind = {w.kind: w for w in run_windows(per_second.frames)}
    assert {"knee", "run"} <= set(by_kind)
    knee = choose_window(per_second.frames, "knee")
    assert knee.windows == by_kind["knee"].windows
    worst = choose_window(per_second.frames, "worst")  # the step with the highest p99: the last, failed one
    assert worst.t_end == max(f.step.t_end for f in per_second.frames if f.step is not None)
    assert choose_window(per_second.frames, "run").windows == by_kind["run"].windows


def test_a_time_range_keeps_the_windows_that_end_in_it(per_second: Recording) -> None:
    w = choose_window(per_second.frames, "3-9")
    assert [x.t_end for x in w.windows] == [3.0, 6.0, 9.0] and w.label == "t 3-9 s"
    stacks = parse_folded(render_report(per_second, "folded", window="3-9"))
    assert sum(stacks.values()) == flame_tree(w.windows).count
    with pytest.raises(ReportError, match=r"no stacks recorded between t=3\.5 s and t=4 s"):
        render_report(per_second, "folded", window="3.5-4")


def test_frame_names_never_break_a_folded_line(tmp_path: Path) -> None:
    hostile = ["a;b (x.py)", "line\nbreak (y.py)", "\x1b[31mred\x1b[0m (z.py)", "", "bidi\u202eevil (w.py)",
               "tab\there 12"]
    frames = _stacked(ramp_frames(200.0, with_hist=False), extra=[(hostile, 5, "running")])
    rec = read_recording(write_recording(tmp_path / "hostile.jsonl.gz", frames))
    text = render_report(rec, "folded")
    assert all(c == "\n" or c.isprintable() for c in text)
    stacks = parse_folded(text)
    escaped = ("a\\x3bb (x.py)", "line\\x0abreak (y.py)", "\\x1b[31mred\\x1b[0m (z.py)", "?",
               "bidi\\u202eevil (w.py)", "tab\\x09here 12")
    assert stacks[escaped] == 5 * sum(1 for f in frames if f.stacks is not None)
    assert [frame_name(n) for n in hostile] == list(escaped)


def test_no_stacks_or_no_knee_is_one_line(tmp_path: Path) -> None:
    rec = read_recording(write_recording(tmp_path / "bare.jsonl.gz", ramp_frames(200.0, with_hist=False)))
    for fmt in ("folded", "speedscope"):
        with pytest.raises(ReportError, match="holds no folded stacks") as err:
            render_report(rec, fmt)
        assert "\n" not in str(err.value)
    b = TimelineBuilder(tl_header())
    b.step(100, stacks=_window(0, 0, [(["main (m.py)"], 10, "running")]))  # one step: no knee
    flat = Recording(header=b.header, frames=b.frames)
    with pytest.raises(ReportError, match="--window knee: this recording has no knee with stacks"):
        render_report(flat, "folded", window="knee")
    assert parse_folded(render_report(flat, "folded")) == {("main (m.py)",): 10}


# -- speedscope ---------------------------------------------------------------------------------------------------


def test_the_schema_check_catches_what_speedscope_refuses() -> None:
    good = {"$schema": "https://www.speedscope.app/file-format-schema.json", "shared": {"frames": [{"name": "f"}]},
            "profiles": [{"type": "sampled", "name": "p", "unit": "none", "startValue": 0, "endValue": 1,
                          "samples": [[0]], "weights": [1]}]}
    assert schema_errors(good, SCHEMA) == []
    bad_unit = json.loads(json.dumps(good))
    bad_unit["profiles"][0]["unit"] = "samples"
    no_name = json.loads(json.dumps(good))
    no_name["shared"]["frames"] = [{"file": "x.py"}]
    no_schema = {k: v for k, v in good.items() if k != "$schema"}
    text_weight = json.loads(json.dumps(good))
    text_weight["profiles"][0]["weights"] = ["1"]
    for doc in (bad_unit, no_name, no_schema, text_weight):
        assert schema_errors(doc, SCHEMA)


@pytest.mark.parametrize("window", ["run", "knee", "worst", "0-6"])
def test_speedscope_file_passes_its_schema_and_holds_the_flame_tree(per_second: Recording, window: str) -> None:
    doc = json.loads(render_report(per_second, "speedscope", window=window))
    check_speedscope(doc)
    assert len(doc["profiles"]) == 1  # one profile with every thread state: the whole picture, as the report's
    names = [f["name"] for f in doc["shared"]["frames"]]
    profile = doc["profiles"][0]
    stacks: Counter[tuple[str, ...]] = Counter()
    for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
        stacks[tuple(frame_name(names[i]) for i in sample)] += weight
    w = choose_window(per_second.frames, window)
    assert tree_of(stacks) == flame_paths(flame_tree(w.windows))
    assert profile["name"].startswith(w.label)


# -- HdrHistogram log ---------------------------------------------------------------------------------------------


def test_hlog_has_one_interval_per_second_equal_to_the_recordings(per_second: Recording, tmp_path: Path) -> None:
    text = render_report(per_second, "hlog")
    got, start = read_hlog(tmp_path, text)
    seconds = [f.load for f in per_second.frames if f.load is not None and f.load.hist]
    assert len(got) == len(seconds) == len(per_second.frames)
    assert start == per_second.header.started_at
    for h, s in zip(got, seconds, strict=True):
        same_histogram(h, decode_histogram(s.hist))
        # the reader stamps absolute ms: the log's start plus the second's start in session seconds
        assert h.get_start_time_stamp() == pytest.approx((start + s.t - s.dt) * 1000.0)
        assert h.get_end_time_stamp() == pytest.approx((start + s.t) * 1000.0)
    assert "#[BaseTime: 1700000000.000000 (seconds since epoch)]" in text


def test_hlog_of_a_recording_with_merged_seconds_has_one_interval_per_window(merged: Recording,
                                                                             tmp_path: Path) -> None:
    assert not any(f.load.hist for f in merged.frames if f.load is not None) and merged.hists
    got, start = read_hlog(tmp_path, render_report(merged, "hlog"))
    assert len(got) == len(merged.hists)
    for h, w in zip(got, merged.hists, strict=True):
        same_histogram(h, decode_histogram(w.hist))
        assert h.get_start_time_stamp() == pytest.approx((start + w.t_start) * 1000.0)
    # every request of the run, once
    assert sum(h.get_total_count() for h in got) == sum(decode_histogram(w.hist).get_total_count()
                                                        for w in merged.hists)


def test_hlog_of_a_recording_without_histograms_is_a_header(tmp_path: Path) -> None:
    rec = read_recording(write_recording(tmp_path / "empty.jsonl.gz", []))
    got, _ = read_hlog(tmp_path, render_report(rec, "hlog"))
    assert got == []


# -- CSV ----------------------------------------------------------------------------------------------------------


def test_csv_seconds_read_back_equal_the_frames(tmp_path: Path) -> None:
    b = TimelineBuilder(tl_header())
    b.step(100, p99=5, errors={"timeout": 2, "http_5xx": 1}, node=node())
    b.step(200, achieved=150, p99=900, late=3, node=node())
    b.tick(node=node())  # a tick without load: no row
    third = b.frames[2].load
    assert third is not None
    b.frames[2] = msgspec.structs.replace(b.frames[2], load=msgspec.structs.replace(
        third, errors={"tls": 4, "reset": 1}))  # a class this version does not name
    b.frames.append(Frame(t=b.t + 1, load=msgspec.structs.replace(load(50), t=b.t + 1, phase="holding")))
    rec = read_recording(write_recording(tmp_path / "csv.jsonl.gz", b.frames))
    text = render_report(rec, "csv")
    assert "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == SECOND_COLUMNS
    seconds = [f.load for f in rec.frames if f.load is not None]
    assert len(rows) == len(seconds) == 11
    for row, s in zip(rows, seconds, strict=True):
        assert float(row["t"]) == s.t and int(row["step"]) == s.step and row["phase"] == s.phase
        for col in ("offered_rps", "achieved_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
            assert float(row[col]) == getattr(s, col), col
        assert (int(row["sent"]), int(row["completed"]), int(row["late"])) == (s.sent, s.completed, s.late)
        errors = {c: int(row[f"errors_{c}"]) for c in ERROR_CLASSES}
        assert sum(errors.values()) == sum(s.errors.values())
    assert rows[0]["errors_timeout"] == "2" and rows[0]["errors_http_5xx"] == "1"
    assert rows[2]["errors_other"] == "4" and rows[2]["errors_reset"] == "1"
    assert rows[-1]["phase"] == "holding" and rows[5]["late"] == "3"


def test_csv_steps_read_back_equal_the_verdicts_step_table(merged: Recording) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(merged, "csv", table="steps"))))
    want = step_rows(merged.frames)
    assert tuple(rows[0]) == STEP_COLUMNS and len(rows) == len(want) > 3
    for row, s in zip(rows, want, strict=True):
        assert int(row["step"]) == s.step and row["phase"] == s.phase and row["reason"] == s.reason
        assert row["sustained"] == ("true" if s.sustained else "false")
        for col in ("t_start", "t_end", "offered_rps", "achieved_rps", "p50_ms", "p99_ms", "error_rate"):
            value = getattr(s, col)
            assert (row[col] == "") if value is None else (float(row[col]) == value), col
    assert rows[-1]["sustained"] == "false" and rows[-1]["reason"] == "p99"


# -- entry points -------------------------------------------------------------------------------------------------


def test_options_that_do_not_apply_are_one_lineschema_errors(merged: Recording) -> None:
    cases = [(lambda: check_options("md", "knee", None), "--window applies to --format folded or speedscope"),
             (lambda: check_options("folded", None, "steps"), "--table applies to --format csv, not folded"),
             (lambda: check_options("csv", None, "minutes"), "--table: expected one of seconds, steps"),
             (lambda: parse_window("later"), "--window: expected knee, worst, run or a time range"),
             (lambda: parse_window("9-3"), "got '9-3'"),
             (lambda: render_report(merged, "folded:colour=red"), "unknown report format"),
             (lambda: render_report(merged, "hlog", window="run"), "--window applies to")]
    for call, message in cases:
        with pytest.raises(ReportError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
    assert parse_window(" Knee ") == "knee" and parse_window("30-60.5") == "30-60.5"
    assert FORMATS[:3] == ("md", "html", "json") and {"folded", "speedscope", "hlog", "csv"} <= set(FORMATS)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", "report", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)


def test_the_cli_writes_each_format_to_stdout_or_a_file(per_second: Recording, tmp_path: Path) -> None:
    assert per_second.path is not None
    src = str(per_second.path)
    folded = _cli(src, "--format", "folded", "--window", "knee")
    assert folded.returncode == 0, folded.stderr
    assert folded.stdout == render_report(per_second, "folded", window="knee")
    out = tmp_path / "steps.csv"
    written = _cli(src, "--format", "csv", "--table", "steps", "-o", str(out))
    assert written.returncode == 0 and out.read_text() == render_report(per_second, "csv", table="steps")
    for args, message in ((["--format", "pdf"], "invalid choice: 'pdf'"),
                          (["--format", "md", "--window", "knee"], "--window applies to --format folded"),
                          (["--format", "csv", "--table", "hours"], "invalid choice: 'hours'"),
                          (["--format", "speedscope", "--window", "0.5-0.9"], "no stacks recorded between")):
        bad = _cli(src, *args)
        lines = [line for line in bad.stderr.splitlines() if line.strip()]
        assert bad.returncode == 2 and len(lines) == 1 and message in lines[0], (args, bad.stderr)
        if "pdf" in args:  # the choices come from report.FORMATS
            assert all(fmt in lines[0] for fmt in FORMATS)


# -- Grafana, on paper --------------------------------------------------------------------------------------------

METRICS = ("bottlenecktop_achieved_rps", "bottlenecktop_offered_rps", 'bottlenecktop_latency_ms{quantile="0.99"}',
           "node_cpu_seconds_total")


def test_the_grafana_dashboard_overlays_rate_and_p99_on_node_cpu() -> None:
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = dash["panels"]
    assert panels and all(p["type"] == "timeseries" and p["targets"] for p in panels)
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    for metric in METRICS:
        assert any(metric in e for e in exprs), metric
    for p in panels:  # each panel overlays bottlenecktop's numbers on the node's CPU
        assert any("bottlenecktop_" in t["expr"] for t in p["targets"])
        assert any("node_cpu_seconds_total" in t["expr"] for t in p["targets"])
        for owner in (p, *p["targets"]):  # no data source baked in: the variable, picked at import
            assert owner["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        placed = [o["matcher"]["options"] for o in p["fieldConfig"]["overrides"]]
        assert all(r in refs for r in placed)  # the CPU series' right axis points at a real query


def test_damaged_parts_are_left_out_and_every_output_still_parses(tmp_path: Path) -> None:
    frames = _stacked(ramp_frames(200.0))
    bad = frames[2]
    assert bad.load is not None and frames[5].stacks is not None
    frames[2] = msgspec.structs.replace(bad, load=msgspec.structs.replace(bad.load, hist="HISTnot-base64!"))
    frames[5] = msgspec.structs.replace(frames[5], stacks=msgspec.structs.replace(
        frames[5].stacks, folded=[FoldedStack(frames=[0, 99], count=3), FoldedStack(frames=[77], count=4),
                                  FoldedStack(frames=[0], count=-2)]))
    rec = Recording(header=header(started_at=1e15, host="evil\nhost", target=Target(url=None)), frames=frames)
    got, _ = read_hlog(tmp_path, render_report(rec, "hlog"))
    assert len(got) == len(frames) - 1  # the second that does not decode is left out, the rest are there
    stacks = parse_folded(render_report(rec, "folded"))
    assert stacks[("serve_forever (socketserver.py)",)] == 3  # an index out of range is dropped, as the tree does
    others = sum(1 for f in frames if f.stacks is not None) - 1  # each other window has one empty stack
    assert stacks[(NO_FRAMES,)] == 4 + others  # no frame left: counted, as the tree counts it in its root
    doc = json.loads(render_report(rec, "speedscope"))
    check_speedscope(doc)
    assert "\n" not in doc["name"]
    rows = list(csv.DictReader(io.StringIO(render_report(rec, "csv"))))
    assert len(rows) == len(frames)
