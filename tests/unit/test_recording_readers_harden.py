"""What a damaged or hostile recording can put in front of a reader: raw HTML, a clock no one can show, a verdict
of the wrong shape, a driver that died mid-ramp. Each reader says something sensible and never fails."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.app.cli import main
from bottlenecktop.recording import read_recording
from bottlenecktop.report import render_report
from bottlenecktop.session import Frame
from bottlenecktop.summary import summary_text
from tests.support.recording_synth import write_recording, write_recording_raw_verdict
from tests.support.timeline_builder import TimelineBuilder, header

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_markdown_escapes_raw_html_from_a_recording(tmp_path: Path) -> None:
    frames = [Frame(t=1.0, marks=[EVIL])]
    verdict = {"capacity": {}, "bottleneck": {"resource": "cpu", "scope": EVIL, "evidence": [EVIL]}}
    path = write_recording_raw_verdict(tmp_path / "r.btrec", frames, verdict, host=EVIL)
    text = render_report(read_recording(path), "md")
    assert "<script" not in text and "<img" not in text, text
    assert "&lt;script&gt;" in text


@pytest.mark.parametrize("started_at", [1e300, -1e300])  # NaN: the reader's job (it writes null)
@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_a_start_time_no_clock_can_show_is_one_line(tmp_path: Path, started_at: float, fmt: str) -> None:
    path = write_recording(tmp_path / "r.btrec", [Frame(t=1.0)], started_at=started_at)
    code, _, err = run_main("report", str(path), "--format", fmt)
    # The reader refuses a header no clock can show as damage: one line, exit 2, never a traceback.
    assert code == 2, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1 and "plausible time" in err


@pytest.mark.parametrize("verdict", [
    {"capacity": "x", "bottleneck": [1], "steps": 5},
    {"bottleneck": {"resource": 3, "evidence": "not a list"}},
    {"findings": [{"resource": None}]},
    {"capacity": {"max_sustainable_rps": "lots", "slo": 7}},
])
@pytest.mark.parametrize("mode", ["replay", "report", "compare"])
def test_a_verdict_of_the_wrong_shape_is_set_aside_with_one_line(tmp_path: Path, verdict: dict[str, object],
                                                                 mode: str) -> None:
    path = write_recording_raw_verdict(tmp_path / "r.btrec", [Frame(t=1.0)], verdict)
    argv = {"replay": ["replay", str(path), "--headless"], "report": ["report", str(path)],
            "compare": ["compare", str(path), str(path), "--headless"]}[mode]
    code, _, err = run_main(*argv)
    assert code == 0, err
    assert "internal error" not in err
    assert "recorded verdict is damaged" in err
    assert len([ln for ln in err.splitlines() if "damaged" in ln]) == (2 if mode == "compare" else 1)


def test_a_record_nested_100000_deep_is_skipped_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    head = {"kind": "header", "format": "bottlenecktop.recording", "schema_version": 1, "mode": "ramp"}
    deep = '{"kind":"verdict","verdict":{"x":' + "[" * 100_000 + "]" * 100_000 + "}}"
    path.write_text(json.dumps(head) + "\n" + deep + "\n")
    for argv in (["replay", str(path), "--headless"], ["report", str(path)],
                 ["compare", str(path), str(path), "--headless"]):
        code, _, err = run_main(*argv)
        # The reader skips the record it cannot decode (the rest of the file still reads) and says so once.
        assert code == 0, err
        assert "internal error" not in err and "Traceback" not in err
        assert sum("damaged record skipped" in ln for ln in err.splitlines()) == (2 if argv[0] == "compare" else 1)


def cut_short_timeline() -> TimelineBuilder:
    b = TimelineBuilder(header())
    for rps in (10, 15, 22, 34):
        b.step(rps, seconds=3)
    b.outcome(None, reason="driver-exited", confirmed=False)
    return b


def test_a_driver_that_died_mid_ramp_leaves_the_best_sustained_step_as_a_lower_bound() -> None:
    b = cut_short_timeline()
    verdict = build_verdict(b.header, b.frames)
    cap = verdict.capacity
    assert cap.max_sustainable_rps == 34
    assert cap.lower_bound is True and cap.ramp_end_reason == "driver-exited"
    text = summary_text(verdict)
    assert "Magic number: 34 req/s" in text
    assert "cut short" in text and "lower bound" in text


def test_an_old_recording_with_a_raw_url_is_redacted_on_reading(tmp_path: Path) -> None:
    raw = "http://alice:PW-77@127.0.0.1:1/?access_token=TOK-77"
    verdict = {"target": {"url": raw, "pid": None}, "capacity": {}, "bottleneck": {"resource": "none"}}
    path = write_recording_raw_verdict(tmp_path / "r.btrec", [Frame(t=1.0)], verdict)
    for argv in (["replay", str(path), "--headless", "--json", str(tmp_path / "v.json")],
                 ["report", str(path), "--format", "json"]):
        code, out, err = run_main(*argv)
        assert code == 0, err
        assert "PW-77" not in out + err and "TOK-77" not in out + err
    assert "TOK-77" not in (tmp_path / "v.json").read_text()
