"""NodeProbe against real load: burning children move CPU and PSI; a tiny backlog overflows its listen queue."""

from __future__ import annotations

import os
import socket
import time
from contextlib import ExitStack, suppress

import pytest

from bottlenecktop.probes.system import NodeProbe
from tests.support.probe_children import BURN_ONE_THREAD, TINY_BACKLOG, child


def test_first_sample_primes_and_never_raises() -> None:
    probe = NodeProbe()
    first = probe.sample()
    assert first.cpu.ncpu == (os.cpu_count() or 1)
    assert first.cpu.busy_pct == 0.0  # rates need two samples
    assert first.memory.total > 0
    time.sleep(0.2)
    second = probe.sample()
    assert len(second.cpu.per_core) == second.cpu.ncpu
    assert 0.0 <= second.cpu.busy_pct <= 100.0
    assert second.cost_ms > 0.0
    assert not any(name.startswith(("loop", "ram")) for name in second.disks)
    assert "lo" in second.nets


def test_top_procs_every_fifth_sample() -> None:
    probe = NodeProbe()
    sizes = []
    for _ in range(7):
        sizes.append(len(probe.sample().top_procs))
        time.sleep(0.02)
    assert sizes[0] == 0 and sizes[1] > 0 and sizes[6] > 0
    assert sizes[2:6] == [0, 0, 0, 0]


def test_burning_children_raise_cpu_and_psi() -> None:
    burners = (os.cpu_count() or 1) + 1  # more runnable threads than cores makes tasks wait: PSI cpu moves
    probe = NodeProbe()
    probe.sample()
    with ExitStack() as stack:
        for _ in range(burners):
            stack.enter_context(child(BURN_ONE_THREAD, seconds=4.0))
        probe.sample()  # restart the interval once all burn
        time.sleep(1.5)
        hot = probe.sample()
    assert hot.cpu.busy_pct > 60.0, hot.cpu
    assert hot.cpu.procs_running >= 2
    if not os.path.exists("/proc/pressure/cpu"):
        pytest.skip("no /proc/pressure on this kernel: PSI cannot move")
    assert hot.cpu.psi_some is not None and hot.cpu.psi_some > 5.0, hot.cpu


def test_tiny_backlog_overflows_and_shows_accept_queue() -> None:
    with child(TINY_BACKLOG, seconds=10.0) as (_proc, words):
        port = int(words[0])
        probe = NodeProbe(listen_port=port)
        probe.sample()
        clients = []
        try:
            for _ in range(20):  # a burst of connects that nobody accepts
                c = socket.socket()
                c.setblocking(False)
                with suppress(BlockingIOError):
                    c.connect(("127.0.0.1", port))
                clients.append(c)
            time.sleep(0.3)
            s = probe.sample()
        finally:
            for c in clients:
                c.close()
    assert s.tcp.listen_overflows > 0, s.tcp
    assert s.tcp.accept_queue is not None and s.tcp.accept_queue >= 1, s.tcp
    assert s.tcp.accept_backlog == 1
    assert s.tcp.states.get("LISTEN", 0) >= 1


def test_no_listener_on_port_gives_no_queue() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening
        sample = NodeProbe(listen_port=port).sample()
    assert sample.tcp.accept_queue is None and sample.tcp.accept_backlog is None
