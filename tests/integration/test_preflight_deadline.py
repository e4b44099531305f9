"""The first request has a deadline and reads a bounded part of the body (issue 28): a server that trickles its
headers or sends a body for ever cannot hold the run nor fill the memory.

The hostile servers are written here: raw sockets on 127.0.0.1, in threads that each test stops. Every loop
in them is bounded in count and in time.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress

import psutil
import pytest

from bottlenecktop.probes.load.preflight import BODY_CAP, preflight, preflight_curl
from tests.support.paths import ROOT

DEADLINE_S = 1.5  # under 2 s: these tests need no slow mark
MARGIN_S = 1.0  # what the deadline may be overrun by: a busy 2-core machine, thread switches
SERVER_LIFE_S = 60.0  # no server thread runs longer than this, whatever the test does
TRICKLE_S = 0.5
CHUNK = b"x" * 65536

Behaviour = Callable[[socket.socket, threading.Event], None]


class Hostile:
    """A TCP server on 127.0.0.1 that reads each request (``read(conn)``), then runs ``behave(conn, stop)``."""

    def __init__(self, behave: Behaviour, read: Callable[[socket.socket], object] | None = None) -> None:
        self.behave = behave
        self.read = read_head if read is None else read  # what is read of the request before ``behave``
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.threads: list[threading.Thread] = []
        self.conns: list[socket.socket] = []
        self.started = time.monotonic()

    def __enter__(self) -> Hostile:
        accepter = threading.Thread(target=self._accept, daemon=True)
        accepter.start()
        self.threads.append(accepter)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for conn in list(self.conns):  # wakes a handler blocked in a send or a read at once
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self.threads):
            thread.join(timeout=5.0)
        self.listener.close()
        assert not any(t.is_alive() for t in self.threads), "a hostile server thread did not stop"

    def _alive(self) -> bool:
        return not self.stop.is_set() and time.monotonic() - self.started < SERVER_LIFE_S

    def _accept(self) -> None:
        for _ in range(100):  # connections at most
            conn = None
            while conn is None and self._alive():
                with suppress(TimeoutError):
                    conn, _ = self.listener.accept()
            if conn is None:
                return
            self.conns.append(conn)
            handler = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            handler.start()
            self.threads.append(handler)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)  # a blocked send wakes up to look at ``stop``
            try:
                self.read(conn)
                self.behave(conn, self.stop)
            except OSError:  # the client hung up: the normal end here
                pass


def read_head(conn: socket.socket) -> bytes:
    """The request up to its blank line (at most 64 KiB, 20 reads)."""
    data = b""
    for _ in range(20):
        if b"\r\n\r\n" in data or len(data) > 65536:
            break
        piece = conn.recv(65536)
        if not piece:
            break
        data += piece
    return data


def read_h2_request(conn: socket.socket) -> None:
    """The client's preface and frames, up to its first HEADERS frame (at most 20 reads)."""
    data = b""
    for _ in range(20):
        piece = conn.recv(65536)
        if not piece:
            return
        data += piece
        at = 24  # the preface: PRI * HTTP/2.0...
        while at + 9 <= len(data):
            length, kind = int.from_bytes(data[at:at + 3], "big"), data[at + 3]
            if kind == 1:
                return
            at += 9 + length


def h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def h2_endless_body(pause_s: float, piece: bytes) -> Behaviour:
    """HTTP/2 with prior knowledge: empty SETTINGS, ":status 200" on stream 1, then DATA frames for ever."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(h2_frame(4, 0, 0) + h2_frame(1, 0x4, 1, b"\x88"))  # 0x88: the static ":status: 200"
        send_forever(conn, stop, h2_frame(0, 0, 1, piece), pause_s)

    return behave


def send_forever(conn: socket.socket, stop: threading.Event, piece: bytes, pause_s: float) -> None:
    """Send ``piece`` again and again, ``pause_s`` apart, until the client hangs up or the test stops us."""
    deadline = time.monotonic() + SERVER_LIFE_S
    for _ in range(10**7):
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            conn.sendall(piece)
        except TimeoutError:  # the client does not read for now
            continue
        if pause_s and stop.wait(pause_s):
            return


def trickled_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Trickle: ")
    send_forever(conn, stop, b"a", TRICKLE_S)


def endless_body(chunked: bool, pause_s: float, piece: bytes = CHUNK) -> Behaviour:
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + framing + b"\r\n")
        send_forever(conn, stop, b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece, pause_s)

    return behave


def first_request(engine: str, url: str, body_cap: int = BODY_CAP) -> tuple[str | None, float]:
    """(the preflight's answer, seconds it took) through httpx ("httpx") or libcurl over HTTP/1.1 ("curl")."""
    t0 = time.monotonic()
    if engine == "httpx":
        problem = preflight(url, timeout=DEADLINE_S, address="127.0.0.1", body_cap=body_cap)
    else:
        problem = preflight_curl(url, timeout=DEADLINE_S, http2=False, address="127.0.0.1", body_cap=body_cap)
    return problem, time.monotonic() - t0


ENGINES = ["httpx", "curl"]
DEADLINE = f"the first request did not finish within {DEADLINE_S:g} s"
BODY_RE = re.compile(re.escape(DEADLINE) + r" \(its body was still arriving after (\d+) bytes\)")


@pytest.mark.parametrize("engine", ENGINES)
def test_trickled_headers_end_at_the_deadline(engine: str) -> None:
    with Hostile(trickled_headers) as server:
        problem, took = first_request(engine, server.url)
    assert problem == f"{DEADLINE} (the server had not finished sending its headers)"
    assert DEADLINE_S - 0.1 <= took < DEADLINE_S + MARGIN_S, took


@pytest.mark.parametrize("engine", ENGINES)
def test_an_endless_slow_body_ends_at_the_deadline(engine: str) -> None:
    with Hostile(endless_body(chunked=False, pause_s=0.2, piece=b"y" * 100)) as server:
        problem, took = first_request(engine, server.url)
    assert problem is not None, "a body that never comes in full is not an answer"
    match = BODY_RE.fullmatch(problem)
    assert match and 0 < int(match[1]) < BODY_CAP, problem
    assert DEADLINE_S - 0.1 <= took < DEADLINE_S + MARGIN_S, took


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
@pytest.mark.parametrize("engine", ENGINES)
def test_an_endless_fast_body_is_an_answer_read_only_up_to_the_cap(engine: str, chunked: bool) -> None:
    with Hostile(endless_body(chunked=chunked, pause_s=0.0)) as server:
        problem, took = first_request(engine, server.url)
    assert problem is None  # the status and headers came: a big page is fine
    assert took < DEADLINE_S / 2, f"{took:.2f} s: the cap, not the deadline, should have ended it"


@pytest.mark.parametrize("engine", ENGINES)
def test_reading_an_endless_fast_body_to_the_deadline_holds_no_memory(engine: str) -> None:
    process = psutil.Process()
    with Hostile(endless_body(chunked=False, pause_s=0.0)) as server:
        first_request(engine, server.url)  # imports, TLS context: what the first call allocates once
        before = process.memory_info().rss
        problem, took = first_request(engine, server.url, body_cap=1 << 50)
        grown = process.memory_info().rss - before
    assert problem is not None
    match = BODY_RE.fullmatch(problem)
    assert match, problem
    received = int(match[1])
    assert received > 32 << 20, f"only {received} bytes came: the memory check would prove little"
    assert grown < 8 << 20, f"RSS grew by {grown / 2**20:.1f} MiB while {received / 2**20:.0f} MiB were read"
    assert took < DEADLINE_S + MARGIN_S, took


def test_an_endless_http2_body_ends_at_the_deadline_when_slow_and_at_the_cap_when_fast() -> None:
    with Hostile(h2_endless_body(0.2, b"y" * 100), read=read_h2_request) as server:
        t0 = time.monotonic()
        problem = preflight(server.url, timeout=DEADLINE_S, http2=True, address="127.0.0.1")
        took = time.monotonic() - t0
    assert problem is not None and BODY_RE.fullmatch(problem), problem
    assert took < DEADLINE_S + MARGIN_S, took
    with Hostile(h2_endless_body(0.0, b"y" * 16384), read=read_h2_request) as server:
        t0 = time.monotonic()
        assert preflight(server.url, timeout=DEADLINE_S, http2=True, address="127.0.0.1") is None
        assert time.monotonic() - t0 < DEADLINE_S / 2


@pytest.mark.parametrize("engine", ENGINES)
def test_a_tls_handshake_that_never_ends_ends_at_the_deadline(engine: str) -> None:
    with Hostile(lambda conn, stop: send_forever(conn, stop, b"\x16", TRICKLE_S), read=lambda conn: None) as server:
        url = server.url.replace("http:", "https:")
        t0 = time.monotonic()
        if engine == "httpx":
            problem = preflight(url, timeout=DEADLINE_S, insecure=True, address="127.0.0.1")
        else:
            problem = preflight_curl(url, timeout=DEADLINE_S, http2=False, insecure=True, address="127.0.0.1")
        took = time.monotonic() - t0
    where = f"127.0.0.1:{server.port}"
    assert problem == f"{DEADLINE} (the TLS handshake with {where} had not finished)"
    assert took < DEADLINE_S + MARGIN_S, took


def test_a_normal_target_still_answers() -> None:
    def small(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n")

    for engine in ENGINES:
        with Hostile(small) as server:
            problem, took = first_request(engine, server.url)
        assert problem is None and took < 1.0, (engine, problem, took)


@pytest.mark.slow
def test_the_cli_says_the_deadline_in_one_line_and_exits_1() -> None:
    with Hostile(trickled_headers) as server:
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bottlenecktop", server.url, "--headless", "--no-record"],
            cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        took = time.monotonic() - t0
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "the first request did not finish within 5 s (the server had not finished sending its headers)" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert took < 30, took
