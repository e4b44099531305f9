"""The target's cgroup as a resource: its CPU quota and throttling, its memory limit and usage, its pressure.

Found from /proc/PID/cgroup and the mount table, for cgroup v2 (``0::PATH`` under the cgroup2 mount), v1 (one
hierarchy per controller) and the hybrid of both (v1 controllers, PSI files on the v2 hierarchy). A quota or
a limit set on an ancestor binds as well, so the tightest one on the path up to the root is the one reported,
with the counters of the cgroup that sets it (that is where the kernel throttles and counts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bottlenecktop.probes import procfs
from bottlenecktop.probes.samples import CgroupSample

UNLIMITED_V1 = 1 << 62  # v1 reports "no memory limit" as a page-rounded 2^63-1


@dataclass(frozen=True)
class Mount:
    root: str  # the cgroup path at the mount point (not "/" inside a container that sees part of the tree)
    point: str  # where it is mounted


def parse_mountinfo(mountinfo: str) -> tuple[Mount | None, dict[str, Mount]]:
    """(the cgroup2 mount, v1 controller -> its mount) from /proc/self/mountinfo text."""
    v2: Mount | None = None
    v1: dict[str, Mount] = {}
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3:
            continue
        if r[0] == "cgroup2" and v2 is None:
            v2 = Mount(f[3], f[4])
        elif r[0] == "cgroup":
            for opt in r[2].split(","):
                v1.setdefault(opt.removeprefix("name="), Mount(f[3], f[4]))
    return v2, v1


def cgroup_dir(mount: Mount, path: str) -> str:
    rel = path[len(mount.root):] if mount.root != "/" and path.startswith(mount.root) else path
    return mount.point.rstrip("/") + "/" + rel.strip("/") if rel.strip("/") else mount.point


def ancestors(path: str) -> list[str]:
    """PATH and each parent up to '/', the leaf first."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def parse_keyed(text: str | None) -> dict[str, int]:
    """'key value' lines (cpu.stat, memory.events, memory.oom_control)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def parse_psi(text: str | None) -> tuple[int | None, int | None]:
    """(some total µs, full total µs) of a pressure file."""
    some = full = None
    for line in (text or "").splitlines():
        kind, _, rest = line.partition(" ")
        if "total=" in rest:
            total = int(rest.rsplit("total=", 1)[1])
            if kind == "some":
                some = total
            elif kind == "full":
                full = total
    return some, full


@dataclass
class CgroupPlaces:
    """Where each part of the target's cgroup lives on this machine."""

    path: str  # the target's cgroup (v2 path, else the v1 cpu path)
    version: int
    cpu_dirs: list[str]  # the cpu controller's directories, leaf first (v2: cpu.max; v1: cfs_quota_us)
    cpu_v2: bool
    cpuacct_dir: str | None  # v1 cpuacct.usage
    memory_dirs: list[str]
    memory_v2: bool
    psi_dir: str | None  # the v2 directory holding cpu.pressure (also on hybrid machines)


def find_cgroup(pid: int | str) -> CgroupPlaces | None:
    """Where PID's cgroup files are; None when PID has no cgroup or it cannot be read."""
    text = procfs.read_text(f"/proc/{pid}/cgroup")
    if not text:
        return None
    v2m, v1m = parse_mountinfo(procfs.read_text("/proc/self/mountinfo") or "")
    v2_path: str | None = None
    v1_paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            v2_path = path
        else:
            for c in controllers.split(","):
                v1_paths[c.removeprefix("name=")] = path
    v2_dirs = [cgroup_dir(v2m, p) for p in ancestors(v2_path)] if v2m and v2_path is not None else []
    v2_controllers = (procfs.read_text(f"{v2m.point}/cgroup.controllers") or "").split() if v2m else []

    def v1_dirs(controller: str) -> list[str]:
        if controller not in v1_paths or controller not in v1m:
            return []
        return [cgroup_dir(v1m[controller], p) for p in ancestors(v1_paths[controller])]

    cpu_v2 = "cpu" in v2_controllers and bool(v2_dirs)
    memory_v2 = "memory" in v2_controllers and bool(v2_dirs)
    # cpuacct counts the CPU of its own cgroup: only the same cgroup as the quota's says what the quota binds
    cpuacct = v1_dirs("cpuacct") if v1_paths.get("cpuacct") == v1_paths.get("cpu") else []
    psi = v2_dirs[0] if v2_dirs and procfs.exists(f"{v2_dirs[0]}/cpu.pressure") else None
    leaf: str | None = v2_path if cpu_v2 or "cpu" not in v1_paths else v1_paths["cpu"]
    return CgroupPlaces(
        path=leaf or "/", version=2 if cpu_v2 or memory_v2 or not v1_paths else 1,
        cpu_dirs=v2_dirs if cpu_v2 else v1_dirs("cpu"), cpu_v2=cpu_v2,
        cpuacct_dir=cpuacct[0] if cpuacct else None,
        memory_dirs=v2_dirs if memory_v2 else v1_dirs("memory"), memory_v2=memory_v2, psi_dir=psi,
    )


def read_quota(d: str, v2: bool) -> tuple[float | None, int]:
    """(quota in cores or None when unlimited, period µs) of one cgroup directory."""
    if v2:
        raw = (procfs.read_text(f"{d}/cpu.max") or "").split()
        if len(raw) < 2 or raw[0] == "max":
            return None, (_int(raw[1]) or 0) if len(raw) > 1 else 0
        return int(raw[0]) / int(raw[1]), int(raw[1])
    quota, period = _int(procfs.read_text(f"{d}/cpu.cfs_quota_us")), _int(procfs.read_text(f"{d}/cpu.cfs_period_us"))
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None, period or 0
    return quota / period, period


def read_memory_limit(d: str, v2: bool) -> int | None:
    raw = (procfs.read_text(f"{d}/memory.max" if v2 else f"{d}/memory.limit_in_bytes") or "").strip()
    if not raw or raw == "max":
        return None
    value = _int(raw)
    return None if value is None or value >= UNLIMITED_V1 else value


class CgroupProbe:
    """One CgroupSample per call for PID's cgroup; rates over the time since the previous call. Never raises."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.places = find_cgroup(pid)
        self._prev: dict[str, float] = {}
        self._t: float | None = None

    def sample(self) -> CgroupSample:
        try:
            return self._sample()
        except Exception as exc:  # a cgroup can be removed with its last process
            return CgroupSample(error=f"cgroup: {type(exc).__name__}: {exc}")

    def _sample(self) -> CgroupSample:
        pl = self.places
        if pl is None:
            return CgroupSample(error=f"no cgroup for pid {self.pid}")
        now = time.monotonic()
        dt = now - self._t if self._t is not None else 0.0
        out = CgroupSample(path=pl.path, version=pl.version)
        counters: dict[str, float] = {}
        # the tightest quota on the way up is the one that throttles; its cpu.stat counts the throttling
        best: tuple[float, int, str] | None = None
        for d in pl.cpu_dirs:
            quota, period = read_quota(d, pl.cpu_v2)
            if quota is not None and (best is None or quota < best[0]):
                best = (quota, period, d)
        stat_dir = best[2] if best else (pl.cpu_dirs[0] if pl.cpu_dirs else None)
        if best is not None:
            out.quota_cores, out.period_us = round(best[0], 4), best[1]
            out.quota_path = self._relative(best[2], pl.cpu_dirs, pl.path)
        if stat_dir is not None:
            st = parse_keyed(procfs.read_text(f"{stat_dir}/cpu.stat"))
            counters["periods"] = st.get("nr_periods", 0)
            counters["throttled"] = st.get("nr_throttled", 0)
            # v2 throttled_usec (µs); v1 throttled_time (ns)
            counters["throttled_us"] = st["throttled_usec"] if "throttled_usec" in st else \
                st.get("throttled_time", 0) / 1000
        leaf_cpu = pl.cpu_dirs[0] if pl.cpu_dirs else None
        if pl.cpu_v2 and leaf_cpu:
            counters["usage_us"] = parse_keyed(procfs.read_text(f"{leaf_cpu}/cpu.stat")).get("usage_usec", 0)
        elif pl.cpuacct_dir:
            usage_ns = _int(procfs.read_text(f"{pl.cpuacct_dir}/cpuacct.usage"))
            if usage_ns is not None:
                counters["usage_us"] = usage_ns / 1000
        self._memory(out, pl, counters)
        if pl.psi_dir:
            for res, some_key, full_key in (("cpu", "psi_cpu_some", "psi_cpu_full"),
                                            ("memory", "psi_memory_some", "psi_memory_full"),
                                            ("io", "psi_io_some", "")):
                some, full = parse_psi(procfs.read_text(f"{pl.psi_dir}/{res}.pressure"))
                if some is not None:
                    counters[some_key] = some
                if full is not None and full_key:
                    counters[full_key] = full
        if dt > 0:
            self._rates(out, counters, dt)
        self._prev, self._t = counters, now
        return out

    @staticmethod
    def _relative(d: str, dirs: list[str], leaf_path: str) -> str:
        """The cgroup path of directory D, one of DIRS (the leaf's directories, leaf first)."""
        up = dirs.index(d)
        return ancestors(leaf_path)[up] if up < len(ancestors(leaf_path)) else leaf_path

    def _memory(self, out: CgroupSample, pl: CgroupPlaces, counters: dict[str, float]) -> None:
        if not pl.memory_dirs:
            return
        limit_dir = pl.memory_dirs[0]
        for d in pl.memory_dirs:
            limit = read_memory_limit(d, pl.memory_v2)
            if limit is not None and (out.memory_limit is None or limit < out.memory_limit):
                out.memory_limit, limit_dir = limit, d
        name = "memory.current" if pl.memory_v2 else "memory.usage_in_bytes"
        usage = procfs.read_text(f"{limit_dir}/{name}")
        out.memory_usage = _int(usage) or 0
        if pl.memory_v2:
            high = (procfs.read_text(f"{pl.memory_dirs[0]}/memory.high") or "").strip()
            out.memory_high = _int(high) if high and high != "max" else None
            events = parse_keyed(procfs.read_text(f"{pl.memory_dirs[0]}/memory.events"))
        else:
            events = parse_keyed(procfs.read_text(f"{pl.memory_dirs[0]}/memory.oom_control"))
        counters["oom_kill"] = events.get("oom_kill", 0)

    def _rates(self, out: CgroupSample, now: dict[str, float], dt: float) -> None:
        prev = self._prev

        def delta(key: str) -> float | None:
            return max(0.0, now[key] - prev[key]) if key in now and key in prev else None

        periods, throttled, t_us = delta("periods"), delta("throttled"), delta("throttled_us")
        if periods is not None:
            out.periods = round(periods / dt, 2)
        if throttled is not None:
            out.throttled_periods = round(throttled / dt, 2)
            if periods:
                out.throttled_pct = round(100.0 * throttled / periods, 1)
        if t_us is not None:
            out.throttled_ms = round(t_us / 1000 / dt, 2)
        usage = delta("usage_us")
        if usage is not None:
            out.usage_cores = round(usage / 1e6 / dt, 4)
        oom = delta("oom_kill")
        out.oom_kills = int(oom or 0)
        for key in ("psi_cpu_some", "psi_cpu_full", "psi_memory_some", "psi_memory_full", "psi_io_some"):
            d = delta(key)
            if d is not None:
                setattr(out, key, round(min(100.0, 100.0 * d / 1e6 / dt), 2))
