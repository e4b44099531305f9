"""Outputs of a recording that other tools read: folded stacks (flamegraph.pl, speedscope, Pyroscope, inferno), a
speedscope profile, an HdrHistogram interval log (HistogramLogProcessor, hdrh's HistogramLogReader) and CSV tables.

Every output is text; ``report.render_report`` is the entry point (these formats are in ``report.FORMATS``)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from bottlenecktop import __version__
from bottlenecktop.analysis.flame import FlameWindow, flame_windows
from bottlenecktop.analysis.knee import find_knee, steps_of
from bottlenecktop.errors import BadInput
from bottlenecktop.probes.printable import printable
from bottlenecktop.probes.samples import ERROR_CLASSES
from bottlenecktop.recording import Recording
from bottlenecktop.session import Frame

EXPORT_FORMATS = ("folded", "speedscope", "hlog", "csv")
WINDOW_FORMATS = ("folded", "speedscope")  # the formats made of stacks: they take a window
WINDOWS = ("knee", "worst", "run")  # as flame_windows names them; or a time range "A-B" in session seconds
TABLES = ("seconds", "steps")  # csv: the per-second load (default) or the verdict's step table
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
HLOG_VALUE_UNIT_RATIO = 1000.0  # the log's Interval_Max column: recorded microseconds / 1000 = ms
SECOND_COLUMNS = ("t", "step", "phase", "offered_rps", "achieved_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                  *(f"errors_{c}" for c in ERROR_CLASSES), "sent", "completed", "late")
STEP_COLUMNS = ("step", "phase", "t_start", "t_end", "offered_rps", "achieved_rps", "p50_ms", "p99_ms",
                "error_rate", "sustained", "reason")
# A sample py-spy took of a thread with no Python frame on its stack (or whose frames a damaged file lost): the
# flame tree counts it in its root; the folded format has no empty stack, so it gets this one frame.
NO_FRAMES = "(no Python frames)"
_RANGE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*$")


class ReportError(BadInput, ValueError):
    """An unknown format, a window or table that does not apply, or a recording without what the output is made
    of; ``str()`` is one line (a BadInput: the CLI says it and exits 2)."""


def parse_window(text: str) -> str:
    """``knee``, ``worst``, ``run``, or a time range ``A-B`` in session seconds (``30-60``), normalised;
    ReportError otherwise."""
    word = text.strip().lower()
    if word in WINDOWS:
        return word
    m = _RANGE.match(text)
    if m is not None:
        a, b = float(m.group(1)), float(m.group(2))
        if math.isfinite(b) and a < b:
            return f"{a:g}-{b:g}"
    raise ReportError(f"--window: expected knee, worst, run or a time range A-B in session seconds (30-60), "
                      f"got {printable(text[:40])!r}")


def choose_window(frames: Sequence[Frame], window: str = "run") -> FlameWindow:
    """The stack windows of ``window`` (see parse_window), as the flame screen and the HTML report choose them
    (analysis.flame.flame_windows); a time range keeps the windows that end inside it. ReportError when the
    recording has none."""
    window = parse_window(window)
    if window not in WINDOWS:
        a, b = (float(x) for x in window.split("-"))
        inside = [f for f in frames if a <= f.t <= b]
        found = flame_windows(inside, (), None)  # no steps: only the "run" window of those frames
        if not found:
            raise ReportError(f"no stacks recorded between t={a:g} s and t={b:g} s")
        return FlameWindow("run", f"t {a:g}-{b:g} s", found[-1].windows)
    steps = steps_of(frames)
    # The worst step is left out of flame_windows when it is the knee; asked for by itself, it is always offered.
    windows = flame_windows(frames, steps, None if window == "worst" else find_knee(steps))
    if not windows:
        raise ReportError("this recording holds no folded stacks (py-spy did not sample the target's Python "
                          "stacks): nothing to write")
    chosen = next((w for w in windows if w.kind == window), None)
    if chosen is None:
        what = "no knee" if window == "knee" else "no ramp steps"
        raise ReportError(f"--window {window}: this recording has {what} with stacks; use --window run")
    return chosen


def frame_name(name: str) -> str:
    """A frame's name for a folded line: control and format characters as their backslash escape (``\\x0a``,
    as everywhere bottlenecktop shows a name), ``;`` (the frame separator) as ``\\x3b``, an empty name as ``?``."""
    return printable(name).replace(";", "\\x3b") or "?"


def _stacks(w: FlameWindow) -> list[tuple[tuple[str, ...], int]]:
    """(frame names outermost first, raw; samples) of every stack of ``w``'s windows in time order, every state
    together, as analysis.flame.flame_tree reads them; an empty stack is (NO_FRAMES,)."""
    out = []
    for sw in w.windows:
        for stack in sw.folded:
            if stack.count > 0:  # only a damaged or crafted file holds another
                names = tuple(sw.names[i] for i in stack.frames if 0 <= i < len(sw.names))
                out.append((names or (NO_FRAMES,), stack.count))
    return out


def folded_stacks(w: FlameWindow) -> Counter[tuple[str, ...]]:
    """Samples per stack (frame names outermost first, raw) over the windows of ``w`` (see _stacks)."""
    out: Counter[tuple[str, ...]] = Counter()
    for names, n in _stacks(w):
        out[names] += n
    return out


def render_folded(rec: Recording, window: str = "run") -> str:
    """Brendan Gregg's folded stacks of ``window``: ``frame;frame;frame count`` per line, outermost frame first,
    count in py-spy samples, lines sorted; names escaped by frame_name; a sample without a Python frame is the
    one frame NO_FRAMES. Thread states are merged (the flame graph's colours are not part of the format)."""
    counts: Counter[str] = Counter()
    for names, n in folded_stacks(choose_window(rec.frames, window)).items():
        counts[";".join(frame_name(x) for x in names)] += n  # two names may escape alike: their samples add up
    return "".join(f"{stack} {n}\n" for stack, n in sorted(counts.items()))


def render_speedscope(rec: Recording, window: str = "run") -> str:
    """speedscope's file format (https://www.speedscope.app/file-format-schema.json): one sampled profile of
    ``window`` (the whole run by default) with every thread state in it, as the report's flame graph shows it:
    someone opening a profile expects all of the time at once, and speedscope shows one profile at a time.
    Samples are in time order by stack window; weights are py-spy sample counts (unit ``none``)."""
    w = choose_window(rec.frames, window)
    frames: list[dict[str, str]] = []
    index: dict[str, int] = {}
    samples: list[list[int]] = []
    weights: list[int] = []
    for names, n in _stacks(w):
        row = []
        for name in names:
            if name not in index:
                index[name] = len(frames)
                frames.append({"name": printable(name)})
            row.append(index[name])
        samples.append(row)
        weights.append(n)
    profile = {"type": "sampled", "name": f"{w.label} (t {w.t_start:.0f}-{w.t_end:.0f} s)", "unit": "none",
               "startValue": 0, "endValue": sum(weights), "samples": samples, "weights": weights}
    doc = {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": frames}, "profiles": [profile],
           "name": printable(f"bottlenecktop: {rec.header.target.url or rec.header.host or 'recording'}"),
           "activeProfileIndex": 0, "exporter": f"bottlenecktop {__version__}"}
    return json.dumps(doc, separators=(",", ":")) + "\n"


def latency_intervals(rec: Recording, frames: Sequence[Frame] | None = None) -> list[tuple[float, float,
                                                                                            HdrHistogram]]:
    """(from, to, histogram of latencies in microseconds) over the run, session seconds: one per second where the
    frames hold their histograms (``frames``, default all), else one per recorded histogram window (a recording
    keeps a step's seconds merged). A histogram that does not decode (damage, a crafted file) is skipped."""
    from bottlenecktop.probes.load.stats import decode_histogram

    def decoded(encoded: str) -> HdrHistogram | None:
        try:
            return decode_histogram(encoded)
        except Exception:  # hdrh's codec raises several kinds on bad input
            return None

    out = []
    for f in rec.frames if frames is None else frames:
        if f.load is not None and f.load.hist and (h := decoded(f.load.hist)) is not None:
            out.append((f.load.t - f.load.dt, f.load.t, h))
    if not out:
        for w in rec.hists:
            if w.hist and (h := decoded(w.hist)) is not None:
                out.append((w.t_start, w.t_end, h))
    return out


def render_hlog(rec: Recording) -> str:
    """HdrHistogram's interval log, written by hdrh's HistogramLogWriter: one interval per second of load, or per
    recorded histogram window when the recording keeps a step's seconds merged. Values are latencies in
    microseconds (Interval_Max in ms). Interval start timestamps are seconds from the run's start (session
    time); the log's ``#[StartTime: ...]`` and ``#[BaseTime: ...]`` are the header's ``started_at`` (unix
    seconds), so readers that want wall-clock times add it, as HistogramLogReader does with ``absolute=True``."""
    out = io.StringIO()
    log = HistogramLogWriter(out)
    started = rec.header.started_at if math.isfinite(rec.header.started_at) and rec.header.started_at > 0 else 0.0
    log.output_comment(f"[Logged with bottlenecktop {__version__}]")
    log.output_log_format_version()
    # hdrh's output_start_time formats its date with a method datetime lacks; the line is written as it would.
    try:
        when = datetime.fromtimestamp(started, UTC).isoformat(" ")
    except (OverflowError, OSError, ValueError):  # a damaged started_at no calendar holds
        when = "-"
    log.output_comment(f"[StartTime: {started:.3f} (seconds since epoch), {when}]")
    log.output_base_time(started * 1000.0)
    log.output_comment("[latencies in microseconds from each request's intended send time; Interval_Max in ms]")
    log.output_legend()
    for t0, t1, hist in latency_intervals(rec):
        t0 = max(t0, 0.0)  # the log's timestamps have no sign
        # The writer falls back on the histogram's own stamps (ms) for a zero start: set them alike.
        hist.set_start_time_stamp(t0 * 1000.0)
        hist.set_end_time_stamp(max(t1, t0) * 1000.0)
        log.output_interval_histogram(hist, t0, max(t1, t0), max_value_unit_ratio=HLOG_VALUE_UNIT_RATIO)
    return out.getvalue()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def render_csv(rec: Recording, table: str = "seconds") -> str:
    """CSV with a header row. ``seconds``: one row per second of load (t = end of the second, session seconds;
    rates req/s; latencies ms from the intended send time; errors, sent, completed, late are counts in that
    second; an error class the recording names outside ERROR_CLASSES counts as ``errors_other``). ``steps``: the
    verdict's step table (analysis.verdict.step_rows). Booleans are true/false, a missing value is empty."""
    check_options("csv", table=table)
    out = io.StringIO()
    # "\n", not csv's "\r\n": stdout goes through printable_lines, which would show a CR as \x0d.
    writer = csv.writer(out, lineterminator="\n")
    if table == "steps":
        from bottlenecktop.analysis.verdict import step_rows

        writer.writerow(STEP_COLUMNS)
        for row in step_rows(rec.frames):
            d = msgspec.to_builtins(row)
            writer.writerow([_cell(d.get(c)) for c in STEP_COLUMNS])
        return out.getvalue()
    writer.writerow(SECOND_COLUMNS)
    for f in rec.frames:
        s = f.load
        if s is None:
            continue
        errors = dict.fromkeys(ERROR_CLASSES, 0)
        for k, n in s.errors.items():
            errors[k if k in errors else "other"] += n
        writer.writerow([s.t, s.step, s.phase, s.offered_rps, s.achieved_rps, s.p50_ms, s.p90_ms, s.p99_ms,
                         s.max_ms, *errors.values(), s.sent, s.completed, s.late])
    return out.getvalue()


def check_options(fmt: str, window: str | None = None, table: str | None = None) -> None:
    """ReportError when ``window`` or ``table`` is given to a format that has none, or is not one it knows."""
    if window is not None:
        if fmt not in WINDOW_FORMATS:
            raise ReportError(f"--window applies to --format {' or '.join(WINDOW_FORMATS)}, not {fmt}")
        parse_window(window)
    if table is not None:
        if fmt != "csv":
            raise ReportError(f"--table applies to --format csv, not {fmt}")
        if table not in TABLES:
            raise ReportError(f"--table: expected one of {', '.join(TABLES)}, got {printable(table[:40])!r}")


def render_export(rec: Recording, fmt: str, window: str | None = None, table: str | None = None) -> str:
    """``fmt`` (EXPORT_FORMATS) of ``rec``; ``window`` for folded and speedscope (default the whole run),
    ``table`` for csv (default seconds)."""
    check_options(fmt, window, table)
    if fmt == "folded":
        return render_folded(rec, window or "run")
    if fmt == "speedscope":
        return render_speedscope(rec, window or "run")
    if fmt == "hlog":
        return render_hlog(rec)
    if fmt == "csv":
        return render_csv(rec, table or "seconds")
    raise ReportError(f"unknown export format {printable(fmt[:40])!r}")
