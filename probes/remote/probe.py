"""All the remote sources of a run, scraped concurrently off the tick's critical path.

``begin()`` starts one scrape per source on a worker thread (never two at once for a source); ``collect()``
waits at most a budget for them. A source that has not answered by then is a gap this tick; its answer, when it
comes, is used at the next tick instead of being thrown away (its rates are over its own time, so still right).
Samples of a node_exporter and a process-exporter on the same host are merged into one RemoteSample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import msgspec

from bottlenecktop.probes.remote.address import shown
from bottlenecktop.probes.remote.exporter import ExporterScraper
from bottlenecktop.probes.remote.prometheus import PrometheusReader
from bottlenecktop.probes.samples import RemoteSample

BUDGET_SHARE = 0.3  # of the interval: the longest a tick waits for its scrapes


@dataclass
class _Source:
    name: str
    kind: str  # REMOTE_SOURCES
    hosts: Callable[[], list[str]]  # the hosts it reports (a stale sample is made for each when it is late)
    scrape: Callable[[], list[RemoteSample]]
    notices: list[str]
    close: Callable[[], None]
    future: Future[list[RemoteSample]] | None = None
    late: list[RemoteSample] | None = None  # an answer that came after its tick's budget


def _exporter(s: ExporterScraper) -> _Source:
    return _Source(shown(s.url), s.kind, lambda: [s.host], lambda: [s.scrape()], s.notices, s.close)


def _prometheus(r: PrometheusReader) -> _Source:
    return _Source(shown(r.base), "prometheus", r.hosts, r.sample, r.notices, r.close)


class RemoteProbe:
    """Every --node-exporter, --process-exporter and --prometheus source. Call from one thread."""

    def __init__(self, node_exporters: Sequence[str] = (), process_exporters: Sequence[str] = (),
                 prometheus: str | None = None, selector: str = "", interval: float = 1.0) -> None:
        timeout = max(0.2, 0.5 * interval)  # a hung exporter frees its worker well within a tick or two
        self.interval = interval
        self.notices: list[str] = []
        self._sources = [_exporter(ExporterScraper(u, "node-exporter", timeout)) for u in node_exporters]
        self._sources += [_exporter(ExporterScraper(u, "process-exporter", timeout)) for u in process_exporters]
        self.prometheus = PrometheusReader(prometheus, selector, interval, timeout) if prometheus else None
        if self.prometheus is not None:
            self._sources.append(_prometheus(self.prometheus))
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self._sources)), thread_name_prefix="remote")
        self._slow: set[str] = set()

    def begin(self) -> None:
        """Start this tick's scrapes (a source still busy with the last one is left to finish it)."""
        for src in self._sources:
            if src.future is not None and src.future.done():
                src.late, src.future = _result(src.future), None
            if src.future is None:
                src.future = self._pool.submit(src.scrape)

    def collect(self, budget: float | None = None) -> list[RemoteSample]:
        """The samples of this tick, waiting at most BUDGET seconds (default: 30 % of the interval)."""
        futures = [s.future for s in self._sources if s.future is not None]
        wait(futures, timeout=BUDGET_SHARE * self.interval if budget is None else budget)
        out: list[RemoteSample] = []
        for src in self._sources:
            got: list[RemoteSample] | None = None
            if src.future is not None and src.future.done():
                got, src.future, src.late = _result(src.future), None, None
            elif src.late is not None:
                got, src.late = src.late, None
            if got is None:
                if src.name not in self._slow:
                    self._slow.add(src.name)
                    self.notices.append(f"{src.name} is slower than {BUDGET_SHARE * self.interval:.2f} s: its "
                                        "ticks are gaps until it keeps up")
                got = [RemoteSample(host=h, source=src.kind, stale=True) for h in src.hosts()]
            else:
                self._slow.discard(src.name)
            out += got
            while src.notices:
                self.notices.append(src.notices.pop(0))
        return merge_hosts(out)

    def sample(self) -> list[RemoteSample]:
        self.begin()
        return self.collect()

    def close(self) -> None:
        """Stop the workers and close the connections; safe to call twice."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for src in self._sources:
            src.close()

    stop = close  # the name the live run stops what it started with


def _result(future: Future[list[RemoteSample]]) -> list[RemoteSample]:
    try:
        return future.result()
    except Exception as exc:  # a scraper never raises; if one does, the tick must still go on
        return [RemoteSample(host=f"? ({type(exc).__name__})", stale=True)]


def _hostname(host: str) -> str:
    """'10.0.0.7:9100' -> '10.0.0.7', '[::1]:9100' -> '[::1]'."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] or host


def merge_hosts(samples: list[RemoteSample]) -> list[RemoteSample]:
    """One sample per machine: a process-exporter's groups join the node sample of the same host name."""
    nodes = {_hostname(s.host): s for s in samples if s.source != "process-exporter"}
    out = [s for s in samples if s.source != "process-exporter"]
    for s in samples:
        if s.source != "process-exporter":
            continue
        node = nodes.get(_hostname(s.host))
        if node is None:
            out.append(s)
            continue
        merged = msgspec.structs.replace(
            node, groups=s.groups, stale=node.stale or s.stale,
            missing=[*node.missing, *(m for m in s.missing if m not in node.missing)],
            resets=[*node.resets, *s.resets])
        out[out.index(node)] = nodes[_hostname(s.host)] = merged
    return out
