"""ProcessProbe against real children: a burning thread, leaking fds, an exit mid-way, a bad pid."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bottlenecktop.probes.process import ProcessNotFound, ProcessProbe
from tests.support.probe_children import BURN_ONE_THREAD, EXIT_SOON, LEAK_FDS, child


def test_burning_thread_is_the_busiest_thread() -> None:
    with child(BURN_ONE_THREAD, seconds=5.0) as (proc, words):
        tid = int(words[0])
        probe = ProcessProbe(proc.pid)
        probe.sample()
        time.sleep(1.5)
        s = probe.sample()
    assert s.alive and s.num_threads == 2
    top = s.threads[0]
    assert top.tid == tid and top.name == "burner", s.threads
    # a shared 2-core machine at load 8 gives a burning thread a fair share, well above idle, rarely 100 %
    assert top.cpu_pct > 5.0, (s.threads, s.run_delay_ms)
    assert all(t.cpu_pct < 1.0 for t in s.threads[1:])
    assert s.cpu_pct > 5.0
    assert s.rss > 0 and s.fd_limit > 0


def test_leaking_fds_rise_against_the_limit() -> None:
    with child(LEAK_FDS, seconds=5.0) as (proc, _):
        probe = ProcessProbe(proc.pid)
        before = probe.sample()
        time.sleep(1.0)
        after = probe.sample()
    assert after.fd_limit == 256
    assert after.fds - before.fds > 20, (before.fds, after.fds)
    assert after.fds / after.fd_limit > before.fds / before.fd_limit


def test_exit_mid_way_gives_alive_false() -> None:
    with child(EXIT_SOON, seconds=0.5) as (proc, _):
        probe = ProcessProbe(proc.pid)
        assert probe.sample().alive
        proc.wait(timeout=10)
        gone = probe.sample()
        assert not gone.alive and gone.pid == proc.pid
        assert not probe.sample().alive  # and stays so, without raising


def test_bad_pid_raises_process_not_found() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)  # reaped: its pid no longer exists
    with pytest.raises(ProcessNotFound, match=f"no process with pid {proc.pid}"):
        ProcessProbe(proc.pid)
    with pytest.raises(ProcessNotFound):
        ProcessProbe(-1)


def test_children_are_included() -> None:
    script = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
              "'import time\\nx=0\\nd=time.monotonic()+float(4)\\nwhile time.monotonic()<d: x+=1']);"
              "print('ready', c.pid, flush=True); c.wait()\n")
    with child(script, seconds=4.0) as (proc, words):
        probe = ProcessProbe(proc.pid, include_children=True)
        probe.sample()
        time.sleep(1.0)
        s = probe.sample()
        alone = ProcessProbe(proc.pid, include_children=False)
        alone.sample()
        time.sleep(0.5)
        a = alone.sample()
    assert s.children == 1 and int(words[0]) in {t.tid for t in s.threads}
    assert s.cpu_pct > 10.0 and a.cpu_pct < 5.0  # the parent only waits: its CPU is the child's
