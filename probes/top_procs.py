"""The node's busiest processes, from one pass over /proc/*/stat (cheaper than psutil.process_iter)."""

from __future__ import annotations

import os
import time

from bottlenecktop.probes import procfs

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class TopProcs:
    """Keeps each process's CPU counter between refreshes to turn it into a rate."""

    def __init__(self, count: int = 8) -> None:
        self.count = count
        self._prev: dict[tuple[int, str], int] = {}  # (pid, starttime) -> cpu ticks
        self._t: float | None = None

    def refresh(self) -> list[tuple[int, str, float, int]]:
        """[(pid, name, CPU % of one core since the previous refresh, RSS bytes)], busiest first; the first
        call only primes and returns []."""
        now = time.monotonic()
        dt = now - self._t if self._t is not None else 0.0
        cur: dict[tuple[int, str], int] = {}
        rows: list[tuple[int, str, float, int]] = []
        for pid in procfs.all_pids():
            st = procfs.proc_stat_fields(pid)
            if st is None or len(st[1]) < 22:
                continue
            name, f = st
            key = (pid, f[19])
            ticks = int(f[11]) + int(f[12])
            cur[key] = ticks
            prev = self._prev.get(key)
            if prev is not None and dt > 0:
                rows.append((pid, name, 100.0 * (ticks - prev) / _TICK / dt, int(f[21]) * _PAGE))
        self._prev, self._t = cur, now
        rows.sort(key=lambda r: (r[2], r[3]), reverse=True)
        return [(p, n, round(c, 1), r) for p, n, c, r in rows[: self.count]]
