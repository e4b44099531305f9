"""Inputs a careless or hostile user gives: each is one line on stderr and exit 2 before any request is sent, or
(for outputs that go away) a quiet non-zero exit; never a traceback, never a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bottlenecktop.session import Frame
from tests.support.paths import ROOT
from tests.support.recording_synth import write_recording


def run_cli(*args: str, timeout: float = 30.0, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]


def one_line_exit(result: subprocess.CompletedProcess[str], code: int, expected: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert lines[0].startswith("bottlenecktop: ") and "Traceback" not in result.stderr


class CountingListener:
    """A TCP listener on 127.0.0.1 that counts connections: a request sent before validation shows up here."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    server = CountingListener()
    yield server
    server.close()


def run_args(listener: CountingListener, *extra: str) -> list[str]:
    return [f"http://127.0.0.1:{listener.port}/", "--headless", "--no-record", "--max-time", "2", *extra]


NO_REQUEST_CASES: list[tuple[list[str], str]] = [
    (["-H", "X-Evil: a\r\nInjected: 1"], "visible ASCII"),
    (["-H", "X-Name: café"], "visible ASCII"),
    (["-H", "X-Bell: \x07"], "visible ASCII"),
    (["--body", "@/dev/zero"], "not a regular file"),
    (["--interval", "0.0001"], "at least 0.1"),
    (["--connections", "10000000"], "at most 100000"),
    (["--timeout", "1e300"], "at most 3,600 s"),
    (["--max-time", "1e300"], "at most"),
    (["--step-seconds", "inf"], "positive number"),
    (["--heade", "Authorization: Bearer sekrit"], "unrecognized arguments"),
    (["-X", "G" * 100], "HTTP method"),
]


@pytest.mark.parametrize(("extra", "expected"), NO_REQUEST_CASES, ids=[repr(e) for e, _ in NO_REQUEST_CASES])
def test_bad_options_are_refused_before_any_request(listener: CountingListener, extra: list[str],
                                                    expected: str) -> None:
    result = run_cli(*run_args(listener, *extra))
    one_line_exit(result, 2, expected)
    assert "sekrit" not in result.stderr
    assert listener.connections == 0, "a request went out before the input was checked"


def test_a_body_from_a_fifo_is_refused_without_blocking(listener: CountingListener, tmp_path: Path) -> None:
    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    result = run_cli(*run_args(listener, "--body", f"@{fifo}"), timeout=15)
    one_line_exit(result, 2, "not a regular file")
    assert listener.connections == 0


def test_a_body_over_the_cap_is_refused(listener: CountingListener, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    one_line_exit(run_cli(*run_args(listener, "--body", f"@{big}")), 2, "at most")
    assert listener.connections == 0


URL_CASES: list[tuple[list[str], str]] = [
    (["--pid", "1099511627776"], "no process with pid 1099511627776"),
    (["http://[abc]:1/"], "malformed URL"),
    ([f"http://127.0.0.1:1/{'a' * 70_000}"], "at most 8192"),
    (["http://127.0.0.1:0/"], "port 0"),
    (["http://127.0.0.1:1/ spaced"], "malformed URL"),
    (["http://bad_host name/"], "malformed URL"),
    (["http://alice:SEKRIT@[abc]:1/?token=SEKRIT"], "malformed URL"),
]


@pytest.mark.parametrize(("args", "expected"), URL_CASES, ids=[a[0][:40] for a, _ in URL_CASES])
def test_bad_urls_and_pids_are_one_line(args: list[str], expected: str) -> None:
    result = run_cli(*args, "--headless", "--no-record")
    one_line_exit(result, 2, expected)
    assert "SEKRIT" not in result.stderr


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "run.btrec", [Frame(t=1.0)], None)


def test_outputs_never_overwrite_an_input(recording: Path, tmp_path: Path) -> None:
    before = recording.read_bytes()
    (tmp_path / "link").symlink_to(recording)
    os.link(recording, tmp_path / "hard")
    for args in (["report", str(recording), "-o", str(recording)],
                 ["report", str(recording), "-o", str(tmp_path / "link")],
                 ["report", str(recording), "-o", str(tmp_path / "hard")],
                 ["replay", str(recording), "--headless", "--json", str(recording)],
                 ["replay", str(tmp_path / "." / "run.btrec"), "--headless", "--json", str(tmp_path / "hard")],
                 ["compare", str(recording), str(recording), "--headless", "--json", str(recording)]):
        one_line_exit(run_cli(*args), 2, "never overwritten")
    assert recording.read_bytes() == before


def test_the_verdict_is_never_written_over_the_recording(tmp_path: Path) -> None:
    same = tmp_path / "x"
    result = run_cli("--headless", "--record", str(same), "--json", str(tmp_path / "." / "x"), "--max-time", "1")
    one_line_exit(result, 2, "is the recording")
    assert not same.exists()


@pytest.mark.parametrize("args", [["report", "{rec}", "-o", "/dev/full"],
                                  ["replay", "{rec}", "--headless", "--json", "/dev/full"]])
def test_writing_to_a_full_disk_is_one_line(recording: Path, args: list[str]) -> None:
    result = run_cli(*[a.format(rec=recording) for a in args])
    one_line_exit(result, 1, "No space left on device")


@pytest.mark.parametrize("mode", ["report", "replay"])
def test_a_full_stdout_is_one_line_and_exit_1(recording: Path, mode: str) -> None:
    args = ["report", str(recording)] if mode == "report" else ["replay", str(recording), "--headless"]
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "bottlenecktop", *args], stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=30, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "No space left" in result.stderr


@pytest.mark.parametrize("mode", ["report", "replay"])
def test_a_closed_stdout_pipe_ends_quietly_with_exit_1(recording: Path, mode: str) -> None:
    args = ["report", str(recording)] if mode == "report" else ["replay", str(recording), "--headless"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write gets EPIPE
    try:
        result = subprocess.run([sys.executable, "-m", "bottlenecktop", *args], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=30, cwd=ROOT, stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "", result.stderr
