"""A Prometheus server scraping node_exporter every second, read back over query_range, against the direct scrape.

The two read the same counters at different moments (Prometheus scrapes on its own schedule), so a tick's
figures come from intervals up to a second apart: with a steady load the busy % agrees within a few points.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest

from bottlenecktop.probes.remote.exporter import ExporterScraper
from bottlenecktop.probes.remote.prometheus import PrometheusError, PrometheusReader
from bottlenecktop.probes.samples import RemoteSample
from tests.integration.test_remote_exporters import burners
from tests.support.exporters import node_exporter, prometheus

AGREE = 5.0  # points of busy %, mean over the ticks compared


def fresh(reader: PrometheusReader, timeout: float = 30.0) -> RemoteSample:
    """The first non-stale sample with a node (Prometheus needs two scrapes of the new target)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = reader.sample()
        if got and got[0].node is not None and not got[0].stale:
            return got[0]
        time.sleep(0.5)
    raise AssertionError(f"no fresh node through Prometheus within {timeout:.0f} s: {reader.notices}")


def test_query_range_agrees_with_the_direct_scrape(tmp_path: Path) -> None:
    ncpu = os.cpu_count() or 1
    with node_exporter() as exporter, prometheus(tmp_path, [exporter.removeprefix("http://")]) as prom, \
            burners(max(1, ncpu // 2), 40.0):
        reader = PrometheusReader(prom, 'job="node"', step=1.0)
        scraper = ExporterScraper(exporter)
        scraper.scrape()
        first = fresh(reader)
        assert reader.check() == 1
        rows = []
        for _ in range(6):
            time.sleep(1.0)
            got, direct = reader.sample(), scraper.scrape()
            assert len(got) == 1 and got[0].node is not None and direct.node is not None, (got, direct)
            rows.append((got[0], direct))
    assert first.host == exporter.removeprefix("http://")
    assert first.source == "prometheus" and "cpu" not in first.missing
    prom_busy = [v.node.cpu.busy_pct for v, _ in rows if v.node]
    direct_busy = [d.node.cpu.busy_pct for _, d in rows if d.node]
    assert statistics.mean(direct_busy) >= 100.0 / ncpu * 0.8, direct_busy  # the burners show
    assert abs(statistics.mean(prom_busy) - statistics.mean(direct_busy)) <= AGREE, (prom_busy, direct_busy)
    for via, direct in rows:
        assert via.node is not None and direct.node is not None
        assert via.node.cpu.ncpu == direct.node.cpu.ncpu
        assert via.node.memory.total == direct.node.memory.total
        assert set(via.node.disks) == set(direct.node.disks)
        assert via.missing == direct.missing and not via.resets
        assert via.age_s is not None and via.age_s < 3.0, via.age_s
        if direct.node.cpu.psi_some is not None:
            assert via.node.cpu.psi_some is not None


def test_bad_selector_is_one_clear_error(tmp_path: Path) -> None:
    with node_exporter() as exporter, prometheus(tmp_path, [exporter.removeprefix("http://")]) as prom:
        with pytest.raises(PrometheusError, match="rejects the query"):
            PrometheusReader(prom, 'job="node', step=1.0).check()
        reader = PrometheusReader(prom, 'job="nothing-here"', step=1.0)
        assert reader.check() == 0 and reader.sample() == []
    with pytest.raises(PrometheusError, match="does not answer"):
        PrometheusReader(prom, 'job="node"', step=1.0).check()
