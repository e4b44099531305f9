"""An exporter that dies, hangs or comes back mid-run: gaps and one notice each way, never an exception, and a
tick never waits on it longer than its budget."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from bottlenecktop.probes.remote.probe import RemoteProbe
from tests.integration.test_remote_prometheus import fresh
from tests.support.exporters import NODE_EXPORTER, free_port, need, prometheus, serve, stop


def _exporter(port: int) -> list[str]:
    return [need(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}"]


def test_killed_exporter_is_a_gap_and_one_notice_then_comes_back() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe = RemoteProbe(node_exporters=[url], interval=1.0)
    try:
        with serve(_exporter(port), f"{url}/metrics") as proc:
            probe.sample()
            time.sleep(0.3)
            before = probe.sample()
            proc.kill()
            proc.wait(timeout=5)
            gaps = []
            for _ in range(3):
                time.sleep(0.3)
                gaps.append(probe.sample())
        down = [n for n in probe.notices if "does not answer" in n]
        with serve(_exporter(port), f"{url}/metrics"):
            primed = probe.sample()
            time.sleep(0.3)
            back = probe.sample()
    finally:
        probe.close()
    assert before[0].node is not None and not before[0].stale
    for tick in gaps:
        assert len(tick) == 1 and tick[0].stale and tick[0].node is None, tick  # a gap, not zeros
        assert tick[0].host == f"127.0.0.1:{port}"
    assert len(down) == 1, probe.notices
    assert primed[0].node is None and not primed[0].stale  # no rate across the outage: it primes again
    assert back[0].node is not None and back[0].node.cpu.ncpu >= 1
    assert sum("answers again" in n for n in probe.notices) == 1, probe.notices


def test_hung_exporter_never_stalls_a_tick() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe = RemoteProbe(node_exporters=[url], interval=1.0)
    try:
        with serve(_exporter(port), f"{url}/metrics") as proc:
            probe.sample()
            proc.send_signal(signal.SIGSTOP)  # the kernel still accepts connections; nothing answers
            try:
                took = []
                ticks = []
                for _ in range(3):
                    t0 = time.monotonic()
                    ticks.append(probe.sample())
                    took.append(time.monotonic() - t0)
                    time.sleep(0.5)
            finally:
                proc.send_signal(signal.SIGCONT)
            stop(proc)
    finally:
        probe.close()
    assert max(took) < 0.5, took  # the budget is 30 % of the 1 s interval
    assert all(t[0].stale and t[0].node is None for t in ticks), ticks
    assert sum("slower than" in n for n in probe.notices) == 1, probe.notices


def test_exporter_gone_behind_prometheus_is_a_gap_and_one_notice(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(_exporter(port), f"{url}/metrics") as proc, prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prom:
        probe = RemoteProbe(prometheus=prom, selector='job="node"', interval=1.0)
        try:
            assert probe.prometheus is not None
            fresh(probe.prometheus)
            proc.kill()
            proc.wait(timeout=5)
            ticks = []
            for _ in range(8):  # stale within about two scrape intervals and two steps
                time.sleep(1.0)
                ticks.append(probe.sample())
        finally:
            probe.close()
    assert ticks[-1][0].stale and ticks[-1][0].node is None, ticks[-1]
    assert all(len(t) == 1 for t in ticks)
    gone = [n for n in probe.notices if "no fresh scrape" in n]
    assert len(gone) == 1, probe.notices
