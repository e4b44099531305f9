"""The demo's options, readiness and lifecycle: no demo process outlives its parent, however the parent ends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import psutil
import pytest

from bottlenecktop.demo import DemoServer, start_demo


def alive(pids: list[int]) -> list[int]:
    """The pids still running (a zombie holds nothing: it counts as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def port_free(port: int, timeout: float = 3.0) -> bool:
    """Nothing listens on 127.0.0.1:``port`` within ``timeout`` s: it can be bound again.

    A zombie group leader can still have threads tearing down that hold the socket for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen(1)
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
        time.sleep(0.05)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body: bytes = resp.read()
        return body


def test_a_server_that_cannot_start_is_one_runtime_error() -> None:
    with pytest.raises(RuntimeError) as info:
        start_demo("disk", {"dir": "/nonexistent/bottlenecktop"}, ready_timeout=10.0)
    assert "demo server (disk) exited" in str(info.value) and "/nonexistent" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["cpu", "downstream"])
def test_stop_is_idempotent_and_leaves_nothing(kind: str) -> None:
    demo = start_demo(kind, {"workers": "2"} if kind == "cpu" else None)
    assert get(demo.url) == b"ok\n"
    assert alive(demo.pids) == demo.pids
    demo.stop()
    demo.stop()
    assert wait_gone(demo.pids, 3.0) == []
    assert port_free(demo.port)


def test_answers_head_and_post_on_any_path() -> None:
    demo = start_demo("lock", {"work_ms": "0"})
    try:
        req = urllib.request.Request(demo.url + "any/path?q=1", data=b"x" * 10_000, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200 and resp.read() == b"ok\n"
        req = urllib.request.Request(demo.url, method="HEAD")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200 and resp.headers["Content-Length"] == "3"
    finally:
        demo.stop()


def test_a_demo_started_from_a_thread_that_ends_keeps_running() -> None:
    """PDEATHSIG follows the forking thread: the launcher forks from its own long-lived thread."""
    box: list[DemoServer] = []
    worker = threading.Thread(target=lambda: box.append(start_demo("lock")))
    worker.start()
    worker.join(15)
    demo = box[0]
    try:
        time.sleep(0.5)
        assert alive(demo.pids) == demo.pids
        assert get(demo.url) == b"ok\n"
    finally:
        demo.stop()


PARENT = textwrap.dedent(
    """
    import json, sys, time
    from bottlenecktop.demo import start_demo
    demo = start_demo(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps({"pids": demo.pids, "port": demo.port}), flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize(
    ("kind", "options", "sig"),
    [
        ("cpu", {"workers": "2"}, signal.SIGKILL),  # a forked worker is a grandchild of the parent
        ("downstream", {}, signal.SIGKILL),  # two processes started by the parent
        ("disk", {}, signal.SIGKILL),  # a temp dir to delete
        ("lock", {}, signal.SIGTERM),
    ],
)
def test_no_demo_process_outlives_a_killed_parent(kind: str, options: dict[str, str], sig: int) -> None:
    env = dict(os.environ)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, kind, json.dumps(options)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, "the parent script printed nothing"
        started = json.loads(line)
        pids, port = started["pids"], started["port"]
        workdirs = {
            os.path.dirname(f.path)
            for pid in pids
            for f in psutil.Process(pid).open_files()
            if f.path.endswith("commit.log")
        }
        assert alive(pids) == pids
        parent.send_signal(sig)
        parent.wait(5)
        assert wait_gone(pids, 5.0) == [], f"left behind: {alive(pids)}"
        assert port_free(port)
        assert not any(os.path.exists(d) for d in workdirs)
    finally:
        parent.kill()
        parent.wait(5)


def test_module_runs_a_server_until_ctrl_c() -> None:
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bottlenecktop.demo", "--bottleneck", "lock", "workers=2"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[0]
        assert get(url) == b"ok\n"
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0  # stop() may take its full SIGTERM grace on a loaded machine
        assert wait_gone(children, 3.0) == []
    finally:
        proc.kill()
        proc.wait(5)


def test_module_rejects_a_bad_option_in_one_line() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "bottlenecktop.demo", "--bottleneck", "lock", "workers=x"],
        capture_output=True,
        env=env,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "not a number" in out.stderr
