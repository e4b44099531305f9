"""Our own Python children run the installed package whatever the current directory holds, and a child that died
is told by the last line it wrote; a run whose driver never started is a failed run, on the screen and in text."""

from __future__ import annotations

import signal
import subprocess
import tempfile
from pathlib import Path

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.printable import printable
from bottlenecktop.probes.python_child import exit_text, last_line, module_argv
from bottlenecktop.summary import summary_text
from bottlenecktop.tui.status import bar_status
from bottlenecktop.tui.widgets.verdict_bar import render_status
from tests.support.timeline_builder import TimelineBuilder, header, node


def test_a_child_runs_the_installed_package_from_a_folder_holding_another_bottlenecktop(tmp_path: Path) -> None:
    fake = tmp_path / "bottlenecktop"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('the folder in the current directory was imported')\n")
    (fake / "__main__.py").write_text("")
    done = subprocess.run([*module_argv("bottlenecktop"), "--version"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("bottlenecktop "), done.stderr
    # The same command without -P imports the folder: the test can tell the two apart.
    plain = [a for a in module_argv("bottlenecktop") if a != "-P"]
    bare = subprocess.run([*plain, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert "the folder in the current directory was imported" in bare.stderr


def test_the_last_line_is_read_from_the_tail_as_printable_text() -> None:
    with tempfile.TemporaryFile() as f:
        assert last_line(f) == ""
        f.write(b"noise\n" * 100_000 + b"Traceback (most recent call last):\n  ...\n")
        f.write(b"OSError: \x1b]0;owned\x07[Errno 24] Too many open files\n\n  \n")
        f.flush()  # a child writes to the file's descriptor, not through this buffer
        assert last_line(f) == "OSError: \\x1b]0;owned\\x07[Errno 24] Too many open files"
        f.write(b"x" * 1000 + b"\n")
        f.flush()
        line = last_line(f)
        assert len(line) == 300 and line.endswith("…")


def test_printable_escapes_controls_and_text_reordering_only() -> None:
    assert printable("gunicorn: worker [app]") == "gunicorn: worker [app]"
    assert printable("a\tb\r\n\x9b2J\u202eevil\u200b") == "a\\x09b\\x0d\\x0a\\x9b2J\\u202eevil\\u200b"
    assert printable("Ünïcode – fine") == "Ünïcode – fine"


def test_exit_text_names_the_signal() -> None:
    assert exit_text(1) == "exit status 1"
    assert exit_text(-signal.SIGKILL) == "killed by SIGKILL"


def not_started() -> TimelineBuilder:
    b = TimelineBuilder(header())
    b.tick(node=node(busy=5))
    b.tick(node=node(busy=5))
    out = b.outcome(None, reason="driver-not-started", confirmed=False)
    out.why = "ModuleNotFoundError: No module named 'bottlenecktop.probes'"
    return b


def test_a_driver_that_never_started_is_a_failed_run_not_no_bottleneck() -> None:
    b = not_started()
    verdict = build_verdict(b.header, b.frames)
    assert verdict.failure == "the load driver could not start: ModuleNotFoundError: No module named " \
                              "'bottlenecktop.probes'"
    assert verdict.bottleneck.resource == "none" and verdict.findings == []
    assert verdict.to_json_dict()["failure"] == verdict.failure
    text = summary_text(verdict)
    assert text.splitlines()[0] == f"The run failed: {verdict.failure}."
    assert "none found" not in text and "Bottleneck: not judged (no load was driven)." in text
    status = bar_status(b.header, b.frames, verdict)
    line = render_status(status).plain
    assert line.startswith(" FAILED  │ the run failed: the load driver could not start: ModuleNotFound"), line
    assert "no bottleneck" not in line


def test_a_verdict_without_a_failure_has_no_failure_field() -> None:
    b = TimelineBuilder(header())
    for rate in (100, 150):
        b.step(rate, node=node(busy=10))
    b.outcome(150, p99=5, reason="max-rps")
    assert "failure" not in build_verdict(b.header, b.frames).to_json_dict()
