"""Property: whatever argv the CLI gets, it ends in bounded time with a clean exit or one line on stderr and a
non-zero status; never a traceback, never an internal error, never traffic beyond loopback.

The CLI runs in-process (``bottlenecktop.app.cli.main``) with stdout and stderr captured, in a scratch working
directory. Safety by construction: live modes without ``--headless`` stop at "the screen needs a terminal" (stdout
is not a terminal here) before anything starts; the headless live runs all target 127.0.0.1:1, where nobody
listens, and ``--yes`` is never generated; output paths are relative (no ``/`` in generated text) or /dev/null
and /dev/full.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottlenecktop.app.cli import main
from bottlenecktop.session import Frame
from tests.support.recording_synth import write_recording

OPTIONS = ["--pid", "--json", "--max-time", "--record", "--no-record", "--slo-p99", "--max-error-rate", "--max-rps",
           "--goal-rps", "--interval", "-H", "--header", "-X", "--method", "--body", "--timeout", "--http2", "-k",
           "--insecure", "--connections", "--start-rps", "--step-seconds", "--closed-model", "--bottleneck",
           "--workers", "--work-ms", "--set", "--format", "-o", "--output", "-kH", "--heade", "--help", "--version",
           "-", "--", "--json=v.json", "--header=Cookie: x"]
VALUES = ["0", "-1", "1", "0.0001", "1e300", "nan", "inf", "1099511627776", "10000000", "abc", "", " ", "Cookie: x",
          "X: a\r\nB: c", "X: café", "NoColon", "@/dev/zero", "@missing", "@rec.btrec", "GET", "G E T", "md", "html",
          "json", "pdf", "cpu", "lock", "nope", "fd_limit=1", "k=v=w", "v.json", "rec.btrec", "garbage.txt",
          "missing.btrec", "/dev/null", "/dev/full", "http://127.0.0.1:1/", "http://[::1]:1/", "http://[abc]:1/",
          "http://127.0.0.1:0/", "http://127.0.0.1:99999/", "http://x.invalid/", "ftp://127.0.0.1/",
          "http://u:p@127.0.0.1:1/?token=t", "http://127.0.0.1:1/" + "a" * 9000, "localhost:1"]
SUBCOMMANDS = [[], ["demo"], ["replay"], ["compare"], ["report"]]
# Text without "/" (no absolute paths, nothing outside the scratch directory) and without NUL (argv cannot hold it).
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), max_size=30)  # utf-8: no lone surrogates
TOKEN = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), TEXT)


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    sub = draw(st.sampled_from(SUBCOMMANDS))
    rest = draw(st.lists(TOKEN, max_size=8))
    if sub in (["replay"], ["compare"], ["report"]) and draw(st.booleans()):
        rest.append("--headless")  # offline modes: headless only reads files
    if sub == [] and draw(st.integers(0, 3)) == 0:
        # a headless live run: only ever at a closed loopback port, so it ends at the preflight
        rest = ["http://127.0.0.1:1/", "--headless", "--no-record", *[t for t in rest if t.startswith("-")]]
    return sub + rest


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and --version leave through argparse
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def _headless_live(argv: list[str]) -> bool:
    return argv[:1] != ["demo"] and "--headless" in argv and argv[:1] not in (["replay"], ["compare"], ["report"])


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_recording(tmp_path / "rec.btrec", [Frame(t=1.0)], None)
    (tmp_path / "garbage.txt").write_text("not a recording\n")
    return tmp_path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(argv=argvs())
def test_any_argv_ends_cleanly_or_in_one_line(scratch: Path, argv: list[str]) -> None:
    if _headless_live(argv):
        assert argv[0] == "http://127.0.0.1:1/" and "--yes" not in argv and "-y" not in argv
    started = time.monotonic()
    code, _, err = run_main(argv)
    took = time.monotonic() - started
    assert took < 10, f"{argv!r} took {took:.1f} s"
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    assert code in (0, 1, 2), (argv, code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("bottlenecktop: "), (argv, err)
    if code == 1:
        assert lines and all(ln.startswith("bottlenecktop: ") for ln in lines), (argv, err)
    assert (scratch / "rec.btrec").exists(), "an input was destroyed"
