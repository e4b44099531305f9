"""Read the nodes a label selector picks from an existing Prometheus, over its HTTP API (query_range).

Each tick asks for the last few steps (step = the tick) of the node_exporter series the node reading needs, and
for ``timestamp(up)``: the time of the scrape each value came from. Values are grouped by scrape, so rates are
taken between two real scrapes over the real time between them, the way the local probe takes them, whatever
the server's scrape interval. A node with no scrape newer than about two scrape intervals is stale: a gap.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx

from bottlenecktop.probes.remote.address import AddressError, shown, split
from bottlenecktop.probes.remote.metrics import Labels, Reading, labels_key
from bottlenecktop.probes.remote.node import NODE_METRICS, node_reading
from bottlenecktop.probes.samples import NodeSample, RemoteSample

STEPS = 4  # steps read back each tick: enough to catch every scrape of a server scraping at the tick or faster
_SELECTOR = re.compile(r'^\s*\{?\s*(.*?)\s*\}?\s*$', re.S)


class PrometheusError(Exception):
    """Prometheus cannot be asked (not reachable, or it rejects the query); the message says which."""


def matcher(selector: str) -> str:
    """'job="node"' or '{job="node"}' -> 'job="node"' (the inside of a PromQL selector)."""
    m = _SELECTOR.match(selector)
    return m.group(1) if m else selector


def node_query(selector: str) -> str:
    exact = [n for n in NODE_METRICS if not n.endswith("_")]
    names = "|".join([*exact, *(f"{n}.*" for n in NODE_METRICS if n.endswith("_"))])
    inner = matcher(selector)
    return f'{{__name__=~"{names}"{"," + inner if inner else ""}}}'


@dataclass
class _Instance:
    """What is kept of one node between ticks: its last two scrapes and the sample made from them."""

    scrapes: list[tuple[float, Reading]] = field(default_factory=list)  # (unix time of the scrape, reading)
    sample: NodeSample | None = None
    load1: float | None = None
    missing: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    gone: bool = False
    spacing: float = 15.0  # seconds between its scrapes, once two are seen (till then Prometheus's usual 15 s)
    last: float = 0.0  # unix time of the newest scrape taken (older ones read again are not taken twice)


class PrometheusReader:
    """The nodes SELECTOR picks on the Prometheus at URL. ``sample()`` never raises; notices collect in
    ``notices``."""

    def __init__(self, url: str, selector: str, step: float = 1.0, timeout: float = 0.5) -> None:
        if "://" not in url:
            url = "http://" + url
        base, self.host = split(url, "/")
        self.base = base.rstrip("/")
        self.selector = selector
        self.step = step
        self.timeout = timeout
        self.notices: list[str] = []
        self._client = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
        self._nodes: dict[str, _Instance] = {}
        self._down = False
        self._said_missing: dict[str, set[str]] = {}

    def close(self) -> None:
        self._client.close()

    def hosts(self) -> list[str]:
        """The nodes seen so far."""
        return sorted(self._nodes)

    def _range(self, query: str, end: float) -> list[dict[str, object]]:
        try:
            resp = self._client.get(f"{self.base}/api/v1/query_range", params={
                "query": query, "start": f"{end - STEPS * self.step:.3f}", "end": f"{end:.3f}",
                "step": f"{self.step:g}"})
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus {shown(self.base)} does not answer ({type(exc).__name__})") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or body.get("status") != "success":
            said = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(f"Prometheus {shown(self.base)} rejects the query "
                                  f"({said or f'HTTP {resp.status_code}'})")
        result = body.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []

    def check(self) -> int:
        """Ask once, at start: the number of nodes the selector picks. Raises PrometheusError."""
        return len(self._range(f"timestamp(up{{{matcher(self.selector)}}})", time.time()))

    def sample(self) -> list[RemoteSample]:
        """One RemoteSample per node the selector picks (and per node it picked before that went away)."""
        now = time.time()
        try:
            stamps = self._range(f"timestamp(up{{{matcher(self.selector)}}})", now)
            data = self._range(node_query(self.selector), now)
        except PrometheusError as exc:
            if not self._down:
                self.notices.append(f"{exc}: its nodes are a gap until it does")
            self._down = True
            return [RemoteSample(host=h, source="prometheus", stale=True) for h in sorted(self._nodes)]
        if self._down:
            self.notices.append(f"Prometheus {shown(self.base)} answers again")
            self._down = False
        self._take(stamps, data)
        return [self._result(host, inst, now) for host, inst in sorted(self._nodes.items())]

    def _take(self, stamps: list[dict[str, object]], data: list[dict[str, object]]) -> None:
        """Group the step values of each node by the scrape they came from; keep the newest two scrapes."""
        when: dict[str, dict[float, float]] = {}  # instance -> step time -> scrape time
        target_labels: dict[str, set[str]] = {}
        for series in stamps:
            labels = _labels(series)
            inst = labels.get("instance", "")
            target_labels[inst] = set(labels) | {"__name__"}
            when[inst] = {float(t): float(v) for t, v in _values(series)}
        readings: dict[str, dict[float, Reading]] = {}
        for series in data:
            labels = _labels(series)
            inst = labels.get("instance", "")
            if inst not in when:
                continue
            name = labels.get("__name__", "")
            key: Labels = labels_key(labels, drop=target_labels[inst])
            for t, v in _values(series):
                scrape = when[inst].get(float(t))
                if scrape is not None:
                    readings.setdefault(inst, {}).setdefault(scrape, {}).setdefault(name, {})[key] = float(v)
        for inst, by_scrape in readings.items():
            node = self._nodes.get(inst)
            if node is None:
                node = self._nodes[inst] = _Instance()
                self.notices.append(f"Prometheus {shown(self.base)}: reading node {inst}")
            for ts in sorted(by_scrape):
                if ts > node.last:
                    # after an outage the first scrape primes again: no rate may span the gap
                    kept = node.scrapes[-1:] if node.scrapes and not self._too_old(node, ts) else []
                    if kept:
                        node.spacing = ts - kept[0][0]
                    node.scrapes, node.last = [*kept, (ts, by_scrape[ts])], ts
                    self._convert(node)

    def _too_old(self, node: _Instance, now: float) -> bool:
        return now - node.last > 2 * node.spacing + 2 * self.step

    def _convert(self, node: _Instance) -> None:
        (t1, cur) = node.scrapes[-1]
        prev = node.scrapes[-2] if len(node.scrapes) > 1 else None
        got = node_reading(cur, prev[1] if prev else None, t1 - prev[0] if prev else 0.0)
        node.sample, node.load1, node.missing, node.resets = got.sample, got.load1, got.missing, got.resets

    def _result(self, host: str, node: _Instance, now: float) -> RemoteSample:
        age = now - node.last if node.last else None
        stale = age is None or self._too_old(node, now)
        if stale and not node.gone:
            self.notices.append(f"Prometheus {shown(self.base)} has no fresh scrape of node {host}: a gap until "
                                "it has")
        elif not stale and node.gone:
            self.notices.append(f"Prometheus {shown(self.base)} has node {host} again")
        node.gone = stale
        said = self._said_missing.setdefault(host, set())
        new = [m for m in node.missing if m not in said]
        if new:
            said.update(new)
            self.notices.append(f"node {host} (through Prometheus) does not offer {', '.join(new)}: not judged there")
        return RemoteSample(host=host, source="prometheus", node=None if stale else node.sample,
                            load1=node.load1, missing=node.missing, resets=node.resets, stale=stale,
                            age_s=round(age, 3) if age is not None else None)


def _labels(series: dict[str, object]) -> dict[str, str]:
    metric = series.get("metric")
    return {str(k): str(v) for k, v in metric.items()} if isinstance(metric, dict) else {}


def _values(series: dict[str, object]) -> list[tuple[float, str]]:
    values = series.get("values")
    return [(float(p[0]), str(p[1])) for p in values if isinstance(p, list) and len(p) == 2] \
        if isinstance(values, list) else []


__all__ = ["AddressError", "PrometheusError", "PrometheusReader", "matcher", "node_query"]
