"""Bad input ends with one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture
def garbage_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-recording.txt"
    path.write_text("hello, this is not a recording\n")
    return path


BAD_INPUTS: list[tuple[list[str], str]] = [
    (["not a url"], "malformed URL"),
    (["localhost:8000"], "did you mean http://localhost:8000"),
    (["ftp://127.0.0.1/"], "malformed URL"),
    (["http://"], "malformed URL"),
    (["http://127.0.0.1:99999/"], "port"),
    (["--bogus"], "unrecognized arguments"),
    (["http://127.0.0.1:1/", "--max-rps", "-5"], "positive number"),
    (["http://127.0.0.1:1/", "--max-rps", "lots"], "expected a number"),
    (["http://127.0.0.1:1/", "--slo-p99", "0"], "positive number"),
    (["http://127.0.0.1:1/", "--max-error-rate", "2"], "fraction"),
    (["http://127.0.0.1:1/", "--interval", "nan"], "positive number"),
    (["--pid", "-3"], "positive whole number"),
    (["--pid", "4194999"], "no process with pid 4194999"),
    (["http://127.0.0.1:1/", "-H", "NoColonHere"], "Name: value"),
    (["http://127.0.0.1:1/", "-X", "GE T"], "HTTP method"),
    (["http://127.0.0.1:1/", "--body", "@/nonexistent/body.json"], "cannot read the body file"),
    (["http://127.0.0.1:1/", "--json", "/nonexistent/dir/v.json"], "no such directory"),
    (["http://127.0.0.1:1/", "--record", "r.jsonl", "--no-record"], "not allowed with argument"),
    (["http://127.0.0.1:1/", "--record", "pyproject.toml"], "never overwritten"),
    # a documentation address (TEST-NET-1): consent is asked before anything is sent, so no packet leaves
    (["http://192.0.2.1:9/", "--headless", "--no-record"], "add --yes to consent"),
    (["demo", "--bottleneck", "nope"], "invalid choice"),
    (["demo", "--workers", "0"], "positive whole number"),
    (["replay", "/nonexistent/rec.btop"], "no such file"),
    (["replay"], "required"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "no such file"),
    (["report", "pyproject.toml", "--format", "pdf"], "invalid choice"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = run_cli(*args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert lines[0].startswith("bottlenecktop: ")
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_a_recording_is_one_line(garbage_file: Path) -> None:
    result = run_cli("replay", str(garbage_file), "--headless")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr


def test_the_screen_without_a_terminal_says_to_use_headless() -> None:
    result = run_cli("http://127.0.0.1:1/")
    assert result.returncode == 2
    assert "--headless" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_target_is_one_line_and_exit_1() -> None:
    result = run_cli("http://127.0.0.1:1/", "--headless", "--no-record")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and "refused" in lines[0].lower(), result.stderr


def test_version_and_help_exit_0() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("bottlenecktop ")
    for args in (["--help"], ["demo", "--help"], ["replay", "--help"], ["compare", "--help"], ["report", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0 and "usage:" in result.stdout, args
