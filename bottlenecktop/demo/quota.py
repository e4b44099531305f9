"""The quota kind's cgroup: made beside the demo's own CPU cgroup, with a CPU quota, removed on every exit path.

cgroup v1 (a hierarchy with the ``cpu`` controller: ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) is preferred
where it is mounted, as cpu is then not in v2; else cgroup v2 with ``cpu`` in the parent's
``cgroup.subtree_control`` (``cpu.max``). The server moves itself in before it serves and back out before the
directory is removed (a cgroup with a task in it cannot be removed). The launcher removes it again once the
server is gone (a SIGKILLed server cannot), and a new quota demo first removes stale ones left by a demo whose
every process was SIGKILLed (named ``bottlenecktop-demo-PID-N`` after a pid that is gone, and empty).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "bottlenecktop-demo-"
PERIOD_US = 100_000
_counter = itertools.count()


@dataclass(frozen=True)
class QuotaRoot:
    mount: Path  # where the hierarchy is mounted
    path: str  # our own cgroup in it, as /proc/self/cgroup says ("/" at the top)
    version: int  # 1 or 2

    @property
    def directory(self) -> Path:
        return self.mount / self.path.lstrip("/")


@dataclass(frozen=True)
class QuotaCgroup:
    root: QuotaRoot
    name: str
    quota_cpus: float

    @property
    def directory(self) -> Path:
        return self.root.directory / self.name

    @property
    def path(self) -> str:
        """The cgroup as /proc/PID/cgroup shows it for a process inside, e.g. ``/bottlenecktop-demo-812-0``."""
        return f"{self.root.path.rstrip('/')}/{self.name}"


def _own_cgroups() -> dict[str, str]:
    """Controller list (``cpu,cpuacct``; ``""`` for v2) -> our cgroup path in that hierarchy."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


def _cgroup_mounts() -> list[tuple[Path, str, set[str]]]:
    """(mount point, fstype, mount options) of every cgroup and cgroup2 mount."""
    out = []
    with contextlib.suppress(OSError), open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
                out.append((Path(fields[1]), fields[2], set(fields[3].split(","))))
    return out


def quota_root() -> QuotaRoot | None:
    """Where a CPU-quota cgroup can be made by this process, or None if nowhere."""
    own = _own_cgroups()
    mounts = _cgroup_mounts()
    for mount, fstype, options in mounts:
        if fstype != "cgroup" or "cpu" not in options:
            continue
        path = next((p for c, p in own.items() if "cpu" in c.split(",")), "/")
        root = QuotaRoot(mount, path, 1)
        if (root.directory / "cpu.cfs_quota_us").exists() and os.access(root.directory, os.W_OK):
            return root
    for mount, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        root = QuotaRoot(mount, own.get("", "/"), 2)
        control = root.directory / "cgroup.subtree_control"
        with contextlib.suppress(OSError):
            if "cpu" in control.read_text().split() and os.access(root.directory, os.W_OK):
                return root
    return None


def _remove_dir(directory: Path, timeout: float) -> bool:
    """rmdir, retried while the kernel still counts an exiting task inside (bounded); True once it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            directory.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def sweep_stale(root: QuotaRoot) -> None:
    """Remove empty quota cgroups of demos that are gone (their pid, in the name, no longer runs)."""
    with contextlib.suppress(OSError):
        for entry in root.directory.iterdir():
            if not entry.name.startswith(PREFIX):
                continue
            pid = entry.name[len(PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _remove_dir(entry, 0.0)


def create(quota_cpus: float) -> QuotaCgroup:
    """A new cgroup with a CPU quota of ``quota_cpus`` CPUs (period 100 ms). OSError if it cannot be made."""
    root = quota_root()
    if root is None:
        raise OSError("no writable cgroup with a CPU controller")
    sweep_stale(root)
    cgroup = QuotaCgroup(root, f"{PREFIX}{os.getpid()}-{next(_counter)}", quota_cpus)
    cgroup.directory.mkdir()
    try:
        quota = str(max(1000, round(quota_cpus * PERIOD_US)))  # the kernel refuses quotas under 1 ms
        if root.version == 1:
            (cgroup.directory / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cgroup.directory / "cpu.cfs_quota_us").write_text(quota)
        else:
            (cgroup.directory / "cpu.max").write_text(f"{quota} {PERIOD_US}")
    except OSError:
        _remove_dir(cgroup.directory, 1.0)
        raise
    return cgroup


def enter(cgroup: QuotaCgroup) -> None:
    """Move this whole process (every thread) into ``cgroup``."""
    (cgroup.directory / "cgroup.procs").write_text(str(os.getpid()))


def leave_and_remove(cgroup: QuotaCgroup, timeout: float = 2.0) -> None:
    """Move this process back where it came from, then remove ``cgroup`` (errors ignored: best effort)."""
    with contextlib.suppress(OSError):
        (cgroup.root.directory / "cgroup.procs").write_text(str(os.getpid()))
    _remove_dir(cgroup.directory, timeout)


def remove_path(directory: str, timeout: float = 2.0) -> None:
    """The launcher's side: remove a quota cgroup by its directory once its process is gone (bounded)."""
    path = Path(directory)
    if path.name.startswith(PREFIX):
        _remove_dir(path, timeout)
