"""node_exporter and process-exporter, scraped directly, against the local probes on the same box.

Tolerances come from benchmarks/remote_agreement.py on this 2-core machine: busy % differs by at most 0.5
points (mean 0.3; one jiffy of 200 per second), PSI cpu some by at most 1.6 points with the cores oversubscribed.
The tests allow 2.5 and 4 points: the two reads of a tick are a few ms apart on a box others share.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bottlenecktop.probes.remote.exporter import ExporterScraper
from bottlenecktop.probes.system import NodeProbe
from tests.support.exporters import node_exporter, process_exporter

BUSY_TOLERANCE = 2.5  # points of busy %
PSI_TOLERANCE = 4.0  # points of PSI cpu some %
SPIN = "import time, sys\nd = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < d: pass\n"

# A process named bnt-spin (its main thread's comm) with one thread named spinner that spins, one that sleeps.
SPINNER = """
import sys, threading, time
def name(n):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(n)
def spin(deadline):
    name("spinner")
    while time.monotonic() < deadline:
        pass
name("bnt-spin")
end = time.monotonic() + float(sys.argv[1])
threading.Thread(target=spin, args=(end,)).start()
print("ready", flush=True)
time.sleep(max(0.0, end - time.monotonic()))
"""


@contextmanager
def burners(n: int, seconds: float) -> Iterator[None]:
    with ExitStack() as stack:
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)])
            stack.callback(proc.wait, 10)
            stack.callback(proc.kill)
        yield


def pairs(local: NodeProbe, remote: ExporterScraper, n: int,
          interval: float = 1.0) -> list[tuple[float, float, float, float]]:
    """N intervals sampled by both probes back to back: (local busy, remote busy, local psi, remote psi)."""
    local.sample()
    remote.scrape()
    out = []
    for _ in range(n):
        time.sleep(interval)
        a = local.sample()
        b = remote.scrape()
        assert b.node is not None and not b.stale, b
        out.append((a.cpu.busy_pct, b.node.cpu.busy_pct, a.cpu.psi_some or 0.0, b.node.cpu.psi_some or 0.0))
    return out


def test_half_busy_node_agrees_with_the_local_probe() -> None:
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        pytest.skip("one core: a single burner saturates it")
    with node_exporter() as url, burners(ncpu // 2, 8.0):
        time.sleep(0.5)
        rows = pairs(NodeProbe(), ExporterScraper(url), 4)
    for lb, rb, _, _ in rows:
        assert 30.0 <= rb <= 95.0, rows  # half the cores spin: busy, not saturated
        assert abs(rb - lb) <= BUSY_TOLERANCE, rows


def test_oversubscribed_node_shows_psi_cpu_like_the_local_probe() -> None:
    if not os.path.exists("/proc/pressure/cpu"):
        pytest.skip("no /proc/pressure on this kernel: PSI cannot move")
    with node_exporter() as url, burners((os.cpu_count() or 1) + 1, 8.0):
        time.sleep(0.5)
        scraper = ExporterScraper(url)
        rows = pairs(NodeProbe(), scraper, 4)
    for lb, rb, lp, rp in rows:
        assert rb >= 95.0 and abs(rb - lb) <= BUSY_TOLERANCE, rows
        assert rp > 5.0 and abs(rp - lp) <= PSI_TOLERANCE, rows


def test_node_sample_has_the_local_probes_parts() -> None:
    with node_exporter() as url:
        scraper = ExporterScraper(url)
        first = scraper.scrape()
        time.sleep(0.5)
        second = scraper.scrape()
        local = NodeProbe()
        local.sample()
        time.sleep(0.2)
        mine = local.sample()
    assert first.node is None and not first.stale  # the first page primes the counters: a gap, not zeros
    node = second.node
    assert node is not None
    assert node.cpu.ncpu == mine.cpu.ncpu and len(node.cpu.per_core) == mine.cpu.ncpu
    assert abs(node.memory.total - mine.memory.total) <= 0.01 * mine.memory.total
    assert set(node.disks) <= set(mine.disks) and node.disks, (node.disks, mine.disks)
    assert set(node.nets) & set(mine.nets), (node.nets, mine.nets)
    # the first scrape's own reply went out over loopback after its counters were read: segments were sent
    assert node.tcp.out_segs > 0 and "ESTABLISHED" in node.tcp.states
    assert second.load1 is not None
    assert ("psi-cpu" in second.missing) == (not os.path.exists("/proc/pressure/cpu"))
    assert not second.resets


def test_process_exporter_shows_the_spinning_thread_at_one_core(tmp_path: Path) -> None:
    config = tmp_path / "process-exporter.yml"
    config.write_text('process_names:\n  - name: "{{.Comm}}"\n    comm:\n    - bnt-spin\n')
    script = tmp_path / "spinner.py"
    script.write_text(SPINNER)
    proc = subprocess.Popen([sys.executable, str(script), "12"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with process_exporter(config) as url:
            scraper = ExporterScraper(url, "process-exporter")
            scraper.scrape()
            samples = []
            for _ in range(3):
                time.sleep(1.0)
                samples.append(scraper.scrape())
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    for s in samples:
        assert [g.group for g in s.groups] == ["bnt-spin"], s
        group = s.groups[0]
        assert group.procs == 1 and group.num_threads == 2, group
        assert group.cpu_pct is not None and 80.0 <= group.cpu_pct <= 120.0, group
        hot = group.threads[0]
        assert hot.name == "spinner" and hot.count == 1 and hot.cpu_pct >= 80.0, group.threads
        assert all(t.cpu_pct < 10.0 for t in group.threads[1:]), group.threads
        assert group.rss > 0 and group.fds > 0 and group.fd_ratio is not None
