"""Scrape one exporter's /metrics page and turn two consecutive pages into a RemoteSample.

A scrape that fails, times out or cannot be parsed is a gap (``stale``), said once when the exporter goes away
and once when it answers again; the first page after it returns primes the counters again, so no rate spans
the outage.
"""

from __future__ import annotations

import time
from typing import Literal

import httpx

from bottlenecktop.probes.remote.address import shown, split
from bottlenecktop.probes.remote.groups import GROUP_METRICS, groups_reading
from bottlenecktop.probes.remote.metrics import Reading, parse
from bottlenecktop.probes.remote.node import NODE_METRICS, node_reading
from bottlenecktop.probes.samples import RemoteSample

ExporterKind = Literal["node-exporter", "process-exporter"]
DEFAULT_TIMEOUT = 0.5  # seconds: well under a 1 s tick


class ExporterScraper:
    """One exporter. ``scrape()`` fetches its page once and never raises; notices collect in ``notices``."""

    def __init__(self, url: str, kind: ExporterKind = "node-exporter", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url, self.host = split(url, "/metrics")
        self.kind: ExporterKind = kind
        self.timeout = timeout
        self.notices: list[str] = []
        self._client = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
        self._prev: Reading | None = None
        self._t: float | None = None
        self._down = False
        self._said_missing: set[str] = set()

    def close(self) -> None:
        self._client.close()

    def _fetch(self) -> tuple[Reading, float] | str:
        """(reading, monotonic time it describes), or why there is none."""
        t0 = time.monotonic()
        try:
            resp = self._client.get(self.url)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        t1 = time.monotonic()
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}"
        try:
            wanted = NODE_METRICS if self.kind == "node-exporter" else GROUP_METRICS
            return parse(resp.text, wanted), (t0 + t1) / 2  # the exporter read its counters in between
        except Exception as exc:  # the text parser raises ValueError and others on a page it cannot read
            return f"unreadable page ({type(exc).__name__})"

    def scrape(self) -> RemoteSample:
        got = self._fetch()
        if isinstance(got, str):
            if not self._down:
                self.notices.append(f"{self.kind} {shown(self.url)} does not answer ({got}): node {self.host} "
                                    "is a gap until it does")
            self._down, self._prev, self._t = True, None, None
            return RemoteSample(host=self.host, source=self.kind, stale=True)
        if self._down:
            self.notices.append(f"{self.kind} {shown(self.url)} answers again")
            self._down = False
        cur, t = got
        dt = t - self._t if self._t is not None else 0.0
        prev, self._prev, self._t = self._prev, cur, t
        if self.kind == "node-exporter":
            node = node_reading(cur, prev, dt)
            self._say_missing(node.missing)
            return RemoteSample(host=self.host, source=self.kind, node=node.sample, load1=node.load1,
                                missing=node.missing, resets=node.resets)
        groups = groups_reading(cur, prev, dt)
        self._say_missing(groups.missing)
        return RemoteSample(host=self.host, source=self.kind, groups=groups.groups, missing=groups.missing,
                            resets=groups.resets)

    def _say_missing(self, missing: list[str]) -> None:
        new = [m for m in missing if m not in self._said_missing]
        if new:
            self._said_missing.update(new)
            self.notices.append(f"{self.kind} {self.host} does not offer {', '.join(new)}: not judged there")
