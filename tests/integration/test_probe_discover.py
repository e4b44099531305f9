"""find_listener and py_spy_binary against real processes."""

from __future__ import annotations

import os
import socket

from bottlenecktop.probes.discover import find_listener
from bottlenecktop.probes.stacks import py_spy_binary
from tests.support.probe_children import TINY_BACKLOG, child


def test_finds_the_child_listening_on_a_port() -> None:
    with child(TINY_BACKLOG, seconds=10.0) as (proc, words):
        port = int(words[0])
        assert find_listener(port) == proc.pid
        assert find_listener(port, host="10.255.255.1") is None  # bound to loopback only


def test_no_listener_gives_none() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert find_listener(s.getsockname()[1]) is None


def test_py_spy_binary_is_executable() -> None:
    path = py_spy_binary()
    assert path is None or os.access(path, os.X_OK)
