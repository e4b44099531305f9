"""CgroupProbe on real cgroups: a CPU spinner inside a cgroup with a 0.5 CPU quota is throttled, a memory limit
is read back, and the probe reads the current cgroup's real files as they are.

A cgroup is created with cgroup v2 when its cpu controller can be enabled at the root (cpu.max), else on the v1
cpu hierarchy (cpu.cfs_quota_us); this development VM is a hybrid whose v2 hierarchy has no cpu or memory
controller, so here the v1 path runs and v2 is read only through its pressure files."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bottlenecktop.probes import procfs
from bottlenecktop.probes.cgroup import CgroupProbe, find_cgroup

SPIN = "import time\nd = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < d:\n    pass\n"
# waits for a line, then touches 32 MiB and says so
ALLOCATE = ("import sys, time\nsys.stdin.readline()\nheld = bytearray(32 << 20)\nfor i in range(0, len(held), 4096):\n"
            "    held[i] = 1\nprint('ready', flush=True)\ntime.sleep(10)\n")
V2_ROOT = Path("/sys/fs/cgroup")
V1_CPU = Path("/sys/fs/cgroup/cpu")
V1_MEMORY = Path("/sys/fs/cgroup/memory")


def _v2_with_cpu() -> bool:
    controllers = (procfs.read_text(str(V2_ROOT / "cgroup.controllers")) or "").split()
    return "cpu" in controllers and (V2_ROOT / "cgroup.subtree_control").exists()


@contextlib.contextmanager
def _cgroup(base: Path, name: str, settings: dict[str, str]) -> Iterator[Path]:
    d = base / name
    try:
        d.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot create a cgroup under {base}: {exc}")
    try:
        for key, value in settings.items():
            (d / key).write_text(value)
        yield d
    finally:
        for _ in range(50):  # bounded: rmdir succeeds once the last task has left
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.1)


@contextlib.contextmanager
def _spinner_in(dirs: list[Path], seconds: float = 8.0) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)])
    try:
        for d in dirs:
            (d / "cgroup.procs").write_text(str(proc.pid))
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_spinner_in_a_half_cpu_quota_is_throttled() -> None:
    name = f"bottlenecktop-test-{os.getpid()}"
    if _v2_with_cpu():
        with contextlib.suppress(OSError):
            (V2_ROOT / "cgroup.subtree_control").write_text("+cpu")
        cm = _cgroup(V2_ROOT, name, {"cpu.max": "50000 100000"})
        version = 2
    elif V1_CPU.is_dir():
        cm = _cgroup(V1_CPU, name, {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"})
        version = 1
    else:
        pytest.skip("no cgroup v2 cpu controller and no v1 cpu hierarchy on this machine")
    with cm as d, _spinner_in([d]) as proc:
        probe = CgroupProbe(proc.pid)
        probe.sample()
        time.sleep(2.0)
        s = probe.sample()
    assert not s.error, s
    assert s.version == version and s.path == f"/{name}", s
    assert s.quota_cores == 0.5 and s.period_us == 100000 and s.quota_path == f"/{name}", s
    assert 8 <= s.periods <= 12, s  # ten 100 ms periods a second
    assert s.throttled_periods > 3 and s.throttled_pct > 30, s  # a spinner wants a whole core, gets half
    assert s.throttled_ms > 50, s
    if version == 2:
        assert 0.3 <= s.usage_cores <= 0.6, s


def test_memory_limit_is_read_from_the_cgroup() -> None:
    name = f"bottlenecktop-test-mem-{os.getpid()}"
    limit = 256 << 20
    if _v2_with_cpu() and "memory" in (procfs.read_text(str(V2_ROOT / "cgroup.controllers")) or ""):
        with contextlib.suppress(OSError):
            (V2_ROOT / "cgroup.subtree_control").write_text("+memory")
        cm = _cgroup(V2_ROOT, name, {"memory.max": str(limit)})
    elif V1_MEMORY.is_dir():
        cm = _cgroup(V1_MEMORY, name, {"memory.limit_in_bytes": str(limit)})
    else:
        pytest.skip("no memory controller on this machine")
    with cm as d:
        # the child allocates only once it is inside: v1 does not move pages charged before a task moved
        proc = subprocess.Popen([sys.executable, "-c", ALLOCATE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            (d / "cgroup.procs").write_text(str(proc.pid))
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == b"ready"
            s = CgroupProbe(proc.pid).sample()
        finally:
            proc.kill()
            proc.wait(timeout=10)
    assert s.memory_limit == limit, s
    assert 32 << 20 <= s.memory_usage < limit, s  # the child's 32 MiB, touched inside the new cgroup


def test_current_cgroup_is_read_from_its_real_files() -> None:
    places = find_cgroup(os.getpid())
    assert places is not None
    own = procfs.read_text("/proc/self/cgroup") or ""
    assert f":{places.path}\n" in own or own.endswith(f":{places.path}"), (places, own)
    probe = CgroupProbe(os.getpid())
    probe.sample()
    time.sleep(0.5)
    s = probe.sample()
    assert not s.error, s
    assert s.memory_usage > 0, s
    if places.memory_dirs:
        name = "memory.current" if places.memory_v2 else "memory.usage_in_bytes"
        direct = int(procfs.read_text(f"{places.memory_dirs[0]}/{name}") or 0)
        assert 0.5 * direct <= s.memory_usage <= 2 * direct + (64 << 20), (s.memory_usage, direct)
    if places.psi_dir:  # the pressure files exist: each is a % of the tick
        assert s.psi_cpu_some is not None and 0 <= s.psi_cpu_some <= 100, s
        assert s.psi_memory_some is not None and 0 <= s.psi_memory_some <= 100, s
