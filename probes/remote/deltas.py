"""Counter deltas between two readings, with resets said instead of turned into zeros or negative rates."""

from __future__ import annotations

from bottlenecktop.probes.remote.metrics import Labels, Reading


class Deltas:
    """``cur - prev`` per series over ``dt`` seconds. A series missing from either reading gives None; one that
    went down (the exporter or the node restarted, a device was re-created) gives None and is listed in
    ``resets``: a gap for this tick, never a zero."""

    def __init__(self, cur: Reading, prev: Reading, dt: float) -> None:
        self.cur = cur
        self.prev = prev
        self.dt = dt
        self.resets: list[str] = []

    def of(self, name: str, key: Labels = ()) -> float | None:
        now = self.cur.get(name, {}).get(key)
        then = self.prev.get(name, {}).get(key)
        if now is None or then is None:
            return None
        if now < then - 1e-9 * max(1.0, abs(then)):  # float noise in an exporter's sums is not a reset
            where = ",".join(f"{k}={v}" for k, v in key)
            self.resets.append(f"{name}{{{where}}}" if where else name)
            return None
        return max(0.0, now - then)

    def rate(self, name: str, key: Labels = ()) -> float | None:
        """Per second over the interval."""
        d = self.of(name, key)
        return d / self.dt if d is not None and self.dt > 0 else None

    def keys(self, name: str) -> list[Labels]:
        """The series of NAME present in the current reading."""
        return list(self.cur.get(name, {}))
