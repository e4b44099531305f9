"""Reports of a recording in md, html and json: the verdict, the steps, plots made from the data."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.recording import read_recording
from bottlenecktop.report import ReportError, render_report
from tests.support.recording_synth import ramp_frames, verdict_for, write_recording


@pytest.fixture()
def rec_path(tmp_path: Path) -> Path:
    frames = ramp_frames(200.0, with_hist=False)
    frames[5] = msgspec.structs.replace(frames[5], marks=["restart <db> & cache"])
    return write_recording(tmp_path / "run.jsonl.gz", frames, verdict_for(frames, "cpu-thread"))


def test_json_report(rec_path: Path) -> None:
    data = json.loads(render_report(read_recording(rec_path), "json"))
    assert data["schema"] == "bottlenecktop.report/1"
    assert data["verdict"]["capacity"]["max_sustainable_rps"] == 151.88
    assert [s["offered_rps"] for s in data["steps"]][:3] == [20.0, 30.0, 45.0]
    assert data["steps"][-1]["sustained"] is False
    assert len(data["series"]["p99_ms"]) == data["ticks"]
    assert data["marks"] == [{"t": 6.0, "mark": "restart <db> & cache"}]


def test_markdown_report(rec_path: Path) -> None:
    md = render_report(read_recording(rec_path), "md")
    assert md.startswith("# bottlenecktop report")
    assert "| magic number | 151.9 req/s |" in md
    assert "cpu-thread" in md and "thread Main at 99 % of one core" in md
    assert "## Ramp steps" in md and "| 227.8 |" in md
    assert re.search(r"p99 ms\s+[▁▂▃▄▅▆▇█]+", md)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_report_is_self_contained_with_svg_plots(rec_path: Path) -> None:
    page = render_report(read_recording(rec_path), "html")
    parser = _Tags()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("svg") == 4 and tags.count("polyline") >= 6
    # Nothing that loads anything: no src, no href, no link, no script, no CSS url(), no @import.
    assert all("src" not in attrs and "href" not in attrs for _, attrs in parser.tags)
    assert "link" not in tags and "script" not in tags and "img" not in tags and "iframe" not in tags
    assert "url(" not in page and "@import" not in page
    # The only URL text is the target's, shown (escaped) as text.
    assert set(re.findall(r"https?://[^\s<\"']+", page)) == {"http://127.0.0.1:8000/"}
    assert "restart &lt;db&gt; &amp; cache" in page  # marks are escaped
    assert "cpu-thread" in page and "151.9 req/s" in page


def test_a_recording_without_verdict_still_reports(tmp_path: Path) -> None:
    frames = ramp_frames(100.0, with_hist=False)
    rec = read_recording(write_recording(tmp_path / "killed.jsonl.gz", frames))
    for fmt in ("md", "html", "json"):
        out = render_report(rec, fmt)
        assert "no verdict" in out


def test_an_empty_recording_reports_no_data(tmp_path: Path) -> None:
    rec = read_recording(write_recording(tmp_path / "empty.jsonl.gz", []))
    assert "no data" in render_report(rec, "html")
    assert "no verdict recorded and no frames" in render_report(rec, "md")


def test_unknown_format_is_one_line(rec_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown report format 'pdf': choose one of md, html, json"):
        render_report(read_recording(rec_path), "pdf")
