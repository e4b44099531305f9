"""A report of one recording: the verdict, the step table and plots made from the data (md, html, json), and the
outputs other tools read (folded, speedscope, hlog, csv: report_export).

The HTML is one self-contained file: inline CSS and inline SVG charts, no script, no fonts, no network."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram

from bottlenecktop.analysis.flame import FlameWindow, box_colour, describe, flame_tree, layout, run_windows
from bottlenecktop.probes.printable import printable_lines
from bottlenecktop.recording import Recording
from bottlenecktop.report_export import (
    EXPORT_FORMATS,
    ReportError,
    check_options,
    latency_intervals,
    render_export,
)
from bottlenecktop.session import Frame
from bottlenecktop.svgchart import KNEE, LIMIT, Band, IcicleBox, Mark, Series, heatmap, icicle, line_chart, sparkline
from bottlenecktop.verdict_types import Verdict

REPORT_SCHEMA = "bottlenecktop.report/1"
FORMATS = ("md", "html", "json", *EXPORT_FORMATS)
MAX_POINTS = 600  # series are thinned to this many points per chart (an hour at 1 Hz is 3600)
FLAME_COLUMNS = 960  # the icicle's columns: one per pixel of the report's width
FLAME_ROWS = 40  # deeper frames are left out of the report's icicles (the screen drills down without a limit)


# Latency bands of the heatmap, ms (upper edges; the last band is everything above the last edge).
BANDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def band_labels() -> list[str]:
    labels, lo = [], 0
    for hi in BANDS_MS:
        labels.append(f"<{hi} ms" if lo == 0 else f"{lo}-{hi:,}")
        lo = hi
    return [*labels, f">{lo:,} ms"]


def _shares(hist: HdrHistogram) -> list[float] | None:
    """The share of a histogram's requests in each latency band (BANDS_MS)."""
    counts = [0] * (len(BANDS_MS) + 1)
    for item in hist.get_recorded_iterator():
        ms = item.value_iterated_to / 1000.0
        counts[next((i for i, hi in enumerate(BANDS_MS) if ms < hi), len(BANDS_MS))] += \
            item.count_added_in_this_iter_step
    total = sum(counts)
    return [c / total for c in counts] if total else None


def latency_heatmap(rec: Recording) -> list[tuple[float, float, list[float]]]:
    """(from, to, share of requests per latency band) over the run: per second where the frames hold their
    histograms, else per recorded histogram window (a recording keeps the seconds of a step merged)."""
    return [(a, b, shares) for a, b, hist in latency_intervals(rec, _thin(rec.frames))
            if (shares := _shares(hist)) is not None]


def _band_position(ms: float) -> float:
    """Where ``ms`` falls on the heatmap's rows (0 = bottom edge), interpolated inside its band."""
    lo = 0.0
    for i, hi in enumerate(BANDS_MS):
        if ms < hi:
            return i + (ms - lo) / (hi - lo)
        lo = hi
    return float(len(BANDS_MS))


def verdict_of(rec: Recording) -> tuple[Verdict | None, str]:
    """The recording's verdict (analysis.verdict.verdict_of: recorded, or built from the frames of a run killed
    before its verdict), and a note saying which."""
    if rec.verdict is not None:
        return rec.verdict, ""
    if not rec.frames:
        return None, "no verdict recorded and no frames to compute one from"
    from bottlenecktop.analysis import verdict as analysis  # only needed for recordings without a verdict

    try:
        path = str(rec.path) if rec.path else None
        verdict = analysis.verdict_of(rec.header, rec.frames, rec.verdict, recording=path)
        return verdict, "no verdict was recorded: computed from the frames"
    except Exception as exc:  # a report of what was recorded beats none: say why the verdict is missing
        return None, f"no verdict recorded, and computing one failed: {type(exc).__name__}: {exc}"


def _thin(frames: Sequence[Frame]) -> list[Frame]:
    if len(frames) <= MAX_POINTS:
        return list(frames)
    stride = len(frames) / MAX_POINTS
    return [frames[int(i * stride)] for i in range(MAX_POINTS)]


def series_of(frames: Sequence[Frame]) -> dict[str, list[list[float]]]:
    """Time series for the plots, thinned to MAX_POINTS: name -> [[t seconds, value], ...]."""
    out: dict[str, list[list[float]]] = {k: [] for k in (
        "offered_rps", "achieved_rps", "p50_ms", "p99_ms", "node_cpu_pct", "target_cpu_pct", "errors_per_s")}
    for f in _thin(frames):
        if f.load is not None:
            out["offered_rps"].append([f.t, f.load.offered_rps])
            out["achieved_rps"].append([f.t, f.load.achieved_rps])
            out["p50_ms"].append([f.t, f.load.p50_ms])
            out["p99_ms"].append([f.t, f.load.p99_ms])
            out["errors_per_s"].append([f.t, sum(f.load.errors.values()) / (f.load.dt or 1.0)])
        if f.node is not None:
            out["node_cpu_pct"].append([f.t, f.node.cpu.busy_pct])
        if f.target is not None:
            out["target_cpu_pct"].append([f.t, f.target.cpu_pct])
    return out


def _steps(rec: Recording) -> list[dict[str, Any]]:
    """The step table (analysis.verdict.step_rows, as the verdict gives it) as JSON-ready dicts."""
    from bottlenecktop.analysis.verdict import step_rows

    return [msgspec.to_builtins(row) for row in step_rows(rec.frames)]


def report_data(rec: Recording) -> dict[str, Any]:
    """Everything a report shows, as a JSON-ready dict (the ``json`` format)."""
    return _data(rec)[0]


def _data(rec: Recording) -> tuple[dict[str, Any], Verdict | None]:
    verdict, note = verdict_of(rec)
    h = rec.header
    marks = [{"t": f.t, "mark": m} for f in rec.frames for m in f.marks]
    return {
        "schema": REPORT_SCHEMA,
        "recording": str(rec.path) if rec.path else None,
        "header": {"mode": h.mode, "host": h.host, "started_at": h.started_at, "cpu_count": h.cpu_count,
                   "memory_bytes": h.memory_bytes, "kernel": h.kernel, "version": h.version,
                   "command_line": h.command_line, "target": {"url": h.target.url, "pid": h.target.pid},
                   "slo": {"p99_ms": h.slo.p99_ms, "error_rate": h.slo.error_rate}},
        "ticks": len(rec.frames),
        "duration_s": (rec.frames[-1].t - rec.frames[0].t + h.interval) if rec.frames else 0.0,
        "verdict": None if verdict is None else verdict.to_json_dict(),
        "verdict_note": note,
        "steps": _steps(rec),
        "marks": marks,
        "series": series_of(rec.frames),
        "heatmap": [[a, b, [round(x, 4) for x in shares]] for a, b, shares in latency_heatmap(rec)],
        "notice": rec.notice,
        "closed": rec.closed,
    }, verdict


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _when(ts: Any) -> str:
    """A unix time as local date and time; "-" for a value no clock can show (a damaged 1e300, NaN)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts or 0)))
    except (OverflowError, OSError, ValueError, TypeError):
        return "-"


def _headline(d: dict[str, Any], v: Verdict | None) -> list[tuple[str, str]]:
    started = _when(d["header"]["started_at"])
    return [
        ("target", d["header"]["target"]["url"] or (f"pid {d['header']['target']['pid']}"
                                                     if d["header"]["target"]["pid"] else "-")),
        ("host", f"{d['header']['host'] or '-'} ({d['header']['cpu_count']} CPUs)"),
        ("started", started),
        ("duration", f"{d['duration_s']:.0f} s, {d['ticks']} ticks"),
        ("magic number", f"{_fmt(v.capacity.max_sustainable_rps if v else None)} req/s"),
        ("p99 at the magic number", f"{_fmt(v.capacity.p99_ms_at_max if v else None, 2)} ms"),
        ("bottleneck", f"{v.bottleneck.resource} ({v.bottleneck.scope}, confidence {_fmt(v.bottleneck.confidence, 2)})"
         if v else "- (-, confidence -)"),
    ]


_STEP_COLS = (("step", "step", 0), ("phase", "phase", 0), ("offered req/s", "offered_rps", 1),
              ("achieved req/s", "achieved_rps", 1), ("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2),
              ("errors", "error_rate", 4), ("sustained", "sustained", 0), ("why not", "reason", 0))


def _markdown(d: dict[str, Any], v: Verdict | None) -> str:
    lines = ["# bottlenecktop report", ""]
    if d["notice"]:
        lines += [f"> Recording notice: {_md(d['notice'])}", ""]
    if d["verdict_note"]:
        lines += [f"> {_md(d['verdict_note'])}", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {_md(text)} |" for k, text in _headline(d, v)] + [""]
    evidence = v.bottleneck.evidence if v else []
    if evidence:
        lines += ["## Evidence", ""] + [f"- {_md(e)}" for e in evidence] + [""]
    if d["steps"]:
        lines += ["## Ramp steps", "", "| " + " | ".join(c[0] for c in _STEP_COLS) + " |",
                  "|" + "---|" * len(_STEP_COLS)]
        lines += ["| " + " | ".join(_md(_fmt(s[key], digits)) for _, key, digits in _STEP_COLS) + " |"
                  for s in d["steps"]]
        lines.append("")
    lines += ["## Over time", "", "```"]
    for name, label in (("offered_rps", "offered req/s"), ("achieved_rps", "achieved req/s"), ("p99_ms", "p99 ms"),
                        ("node_cpu_pct", "node CPU %"), ("target_cpu_pct", "target CPU %")):
        pts = d["series"][name]
        if pts:
            vals = [p[1] for p in pts]
            lines.append(f"{label:<15} {sparkline(vals)}  max {max(vals):,.1f}")
    lines += ["```", ""]
    if d["marks"]:
        lines += ["## Marks", ""] + [f"- t={m['t']:.0f} s: {_md(m['mark'])}" for m in d["marks"]] + [""]
    lines.append(f"Recording: {_md(d['recording'])}" if d["recording"] else "")
    return "\n".join(lines).rstrip() + "\n"


def _md(text: Any) -> str:
    """Text from a recording as inert markdown: HTML escaped (a renderer would run it), table bars, backticks and
    brackets (a link) escaped, one line."""
    return html.escape(str(text)).replace("|", "\\|").replace("`", "\\`").replace("[", "\\[") \
        .replace("]", "\\]").replace("\r", " ").replace("\n", " ")


_CSS = """body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.notice{background:#fff3cd;padding:6px 10px}
.bad{color:#b00}svg.chart{display:block;margin:1em 0}"""


def _html(d: dict[str, Any], v: Verdict | None, rec_frames: Sequence[Frame]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>bottlenecktop report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>bottlenecktop report</h1>"]
    for note in (d["notice"], d["verdict_note"]):
        if note:
            out.append(f'<p class="notice">{e(note)}</p>')
    out.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(text)}</td></tr>" for k, text in _headline(d, v))
               + "</table>")
    evidence = v.bottleneck.evidence if v else []
    if evidence:
        out.append("<h2>Evidence</h2><ul>" + "".join(f"<li>{e(str(x))}</li>" for x in evidence) + "</ul>")
    s = d["series"]

    def xy(name: str) -> tuple[list[float], list[float]]:
        return [p[0] for p in s[name]], [p[1] for p in s[name]]

    # The ramp's steps shaded (failed ones tinted), the knee and the magic number's step marked, the SLO drawn.
    bands = [Band(st["t_start"], st["t_end"], bad=not st["sustained"]) for st in d["steps"]
             if st.get("t_start") is not None and st.get("t_end") is not None]
    when: list[Mark] = []
    magic = v.capacity.max_sustainable_rps if v else None
    if v is not None and v.knee is not None and v.knee.t is not None:
        when.append(Mark(v.knee.t, f"knee {v.knee.achieved_rps or 0:,.0f} req/s", KNEE, vertical=True))
    slo_ms = d["header"]["slo"]["p99_ms"]
    charts: list[tuple[str, list[Series], str, list[Mark]]] = [
        ("Throughput", [("offered", *xy("offered_rps")), ("achieved", *xy("achieved_rps"))], "req/s",
         [*when, *([Mark(magic, f"magic number {magic:,.0f} req/s", LIMIT)] if magic else [])]),
        ("Latency", [("p99", *xy("p99_ms")), ("p50", *xy("p50_ms"))], "ms",
         [*when, Mark(slo_ms, f"SLO p99 {slo_ms:,.0f} ms", LIMIT)]),
        ("CPU", [("node", *xy("node_cpu_pct")), ("target (% of one core)", *xy("target_cpu_pct"))], "%", when),
    ]
    out.append("<h2>Over time</h2>")
    for title, series, unit, marks in charts:
        out.append(line_chart(title, series, "session time, s", unit, bands=bands, marks=marks))
    heat = d.get("heatmap") or []
    if heat:
        out.append(heatmap("Latency by second (share of each second's requests)", heat, band_labels(),
                           "session time, s",
                           marks=[*when, Mark(_band_position(slo_ms), f"SLO p99 {slo_ms:,.0f} ms", LIMIT)]))
    flames = _flame_windows(rec_frames)
    if flames:
        out.append("<h2>Where the time goes</h2>")
        out.append("<p>Flame graphs (icicles) of the target's Python stacks: each box a function, as wide as its "
                   "share of the samples, its callees below it; warm: running, red: waiting for a lock, blue: "
                   "waiting for another service, ochre: disk, grey: sleep. Idle waits are left out.</p>")
        for w in flames:
            out.append(flame_svg(w))
    if d["steps"]:
        curve = [st for st in d["steps"] if st["offered_rps"] > 0]
        curve.sort(key=lambda st: st["offered_rps"])
        out.append(line_chart("p99 by offered rate (steps)",
                              [("p99", [st["offered_rps"] for st in curve], [st["p99_ms"] for st in curve])],
                              "offered req/s", "ms"))
        out.append("<h2>Ramp steps</h2><table><tr>" + "".join(f"<th>{e(c[0])}</th>" for c in _STEP_COLS) + "</tr>")
        for st in d["steps"]:
            cls = "" if st["sustained"] else ' class="bad"'
            out.append(f"<tr{cls}>" + "".join(f"<td>{e(_fmt(st[key], digits))}</td>"
                                              for _, key, digits in _STEP_COLS) + "</tr>")
        out.append("</table>")
    if d["marks"]:
        out.append("<h2>Marks</h2><ul>" + "".join(f"<li>t={m['t']:.0f} s: {e(m['mark'])}</li>"
                                                   for m in d["marks"]) + "</ul>")
    cmd = " ".join(d["header"]["command_line"])
    out.append(f"<p>Command: <code>{e(cmd)}</code><br>Recording: <code>{e(d['recording'] or '-')}</code></p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _flame_windows(frames: Sequence[Frame]) -> list[FlameWindow]:
    """The knee's and the worst step's windows; the whole run when the run has neither."""
    windows = run_windows(frames)
    steps = [w for w in windows if w.kind != "run"]
    return steps or windows


def flame_svg(w: FlameWindow) -> str:
    """The icicle of one flame window, as inline SVG."""
    tree = flame_tree(w.windows)
    boxes = [IcicleBox(b.depth, b.x0, b.x1, b.node.name, "#{:02x}{:02x}{:02x}".format(*box_colour(b.node)),
                       describe(b.node, tree.count))
             for b in layout(tree, FLAME_COLUMNS, FLAME_ROWS)]
    return icicle(f"Flame graph: {w.label}", boxes, FLAME_COLUMNS,
                  note=f"t {w.t_start:.0f}-{w.t_end:.0f} s, {tree.count:,} samples; hover a box for its share")


def render_report(rec: Recording, fmt: str, window: str | None = None, table: str | None = None) -> str:
    """The report of ``rec`` as text in ``fmt`` (FORMATS); ``window`` (knee, worst, run or a range A-B in session
    seconds) applies to folded and speedscope, ``table`` (seconds, steps) to csv. ReportError (one line) for another
    format, an option the format has not, or a window the recording has no stacks for."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt in EXPORT_FORMATS:
        return render_export(rec, fmt, window, table)
    check_options(fmt, window, table)
    data, verdict = _data(rec)
    if fmt == "json":
        return json.dumps(data, indent=1, default=str) + "\n"
    if fmt == "md":  # read in a terminal as often as rendered: every line shown as text
        return printable_lines(_markdown(data, verdict))
    return _html(data, verdict, rec.frames)
