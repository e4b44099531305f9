"""Small readers of /proc and /sys: each returns plain numbers, or None/empty when the file is missing.

Reading the files directly (not through psutil) keeps a 1 Hz sample well under a millisecond of CPU.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROC = "/proc"

# TCP state codes in /proc/net/tcp (include/net/tcp_states.h).
TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "0C": "NEW_SYN_RECV",
}

# "  sl  local rem st tx:rx ..." -> local port, state, tx_queue, rx_queue; the regex runs in C, which matters
# when a load test leaves tens of thousands of TIME_WAIT sockets.
_TCP_LINE = re.compile(rb"^\s*\d+: [0-9A-F]+:([0-9A-F]{4}) \S+ ([0-9A-F]{2}) ([0-9A-F]+):([0-9A-F]+) ", re.M)


def read_text(path: str) -> str | None:
    """The file's text, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def cpu_stat() -> tuple[list[list[int]], int]:
    """Per-core jiffy counters from /proc/stat (user nice system idle iowait irq softirq steal) and
    procs_running. Row 0 is the all-cores total."""
    text = read_text(f"{PROC}/stat") or ""
    rows: list[list[int]] = []
    running = 0
    for line in text.splitlines():
        if line.startswith("cpu"):
            rows.append([int(x) for x in line.split()[1:9]])
        elif line.startswith("procs_running"):
            running = int(line.split()[1])
    return rows, running


def psi_totals(resource: str) -> tuple[int, int | None] | None:
    """(some total µs, full total µs or None) from /proc/pressure/RESOURCE; None without PSI."""
    text = read_text(f"{PROC}/pressure/{resource}")
    if not text:
        return None
    some: int | None = None
    full: int | None = None
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        total = int(rest.rsplit("total=", 1)[1])
        if kind == "some":
            some = total
        elif kind == "full":
            full = total
    if some is None:
        return None
    return some, full


def meminfo() -> dict[str, int]:
    """MemTotal, MemAvailable, ... in bytes."""
    out: dict[str, int] = {}
    for line in (read_text(f"{PROC}/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            out[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def vmstat(keys: tuple[str, ...] = ("pswpin", "pswpout", "pgmajfault", "oom_kill")) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (read_text(f"{PROC}/vmstat") or "").splitlines():
        key, _, value = line.partition(" ")
        if key in keys:
            out[key] = int(value)
    return out


def whole_disks() -> set[str]:
    """Block devices worth watching: whole disks (partitions are not in /sys/block), not loop or ram."""
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return set()
    return {n for n in names if not n.startswith(("loop", "ram"))}


def diskstats(devices: set[str]) -> dict[str, list[int]]:
    """name -> [rd_ios, rd_sectors, rd_ms, wr_ios, wr_sectors, wr_ms, io_ms, weighted_ms] for DEVICES."""
    out: dict[str, list[int]] = {}
    for line in (read_text(f"{PROC}/diskstats") or "").splitlines():
        f = line.split()
        if len(f) >= 14 and f[2] in devices:
            out[f[2]] = [int(f[3]), int(f[5]), int(f[6]), int(f[7]), int(f[9]), int(f[10]), int(f[12]), int(f[13])]
    return out


def net_dev() -> dict[str, list[int]]:
    """iface -> [rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop]."""
    out: dict[str, list[int]] = {}
    for line in (read_text(f"{PROC}/net/dev") or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        if len(f) >= 12:
            out[name.strip()] = [int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[8]), int(f[9]), int(f[10]),
                                 int(f[11])]
    return out


def link_speed_mbps(iface: str) -> float | None:
    """Link speed from /sys/class/net/IFACE/speed; None when unknown (loopback, virtual, down)."""
    text = read_text(f"/sys/class/net/{iface}/speed")
    try:
        speed = float(text) if text else -1.0
    except ValueError:
        return None
    return speed if speed > 0 else None


def _header_value_table(path: str) -> dict[str, dict[str, int]]:
    """/proc/net/snmp and /proc/net/netstat: pairs of 'Prefix: names' / 'Prefix: values' lines."""
    out: dict[str, dict[str, int]] = {}
    lines = (read_text(path) or "").splitlines()
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, names = head.partition(":")
        _, _, values = vals.partition(":")
        row: dict[str, int] = {}
        for n, v in zip(names.split(), values.split(), strict=False):
            try:
                row[n] = int(v)
            except ValueError:
                continue
        out[prefix] = row
    return out


def tcp_counters() -> dict[str, int]:
    """OutSegs, RetransSegs (Tcp) and ListenOverflows, ListenDrops (TcpExt), cumulative."""
    snmp = _header_value_table(f"{PROC}/net/snmp").get("Tcp", {})
    ext = _header_value_table(f"{PROC}/net/netstat").get("TcpExt", {})
    return {
        "OutSegs": snmp.get("OutSegs", 0),
        "RetransSegs": snmp.get("RetransSegs", 0),
        "ListenOverflows": ext.get("ListenOverflows", 0),
        "ListenDrops": ext.get("ListenDrops", 0),
    }


def tcp_sockets(listen_port: int | None) -> tuple[dict[str, int], int | None]:
    """Socket count per state over /proc/net/tcp and tcp6, and the accept queue (rx_queue) of LISTEN
    sockets on LISTEN_PORT summed (None when no such listener or no port)."""
    counts: dict[bytes, int] = {}
    queue: int | None = None
    port_hex = f"{listen_port:04X}".encode() if listen_port is not None else None
    for name in ("tcp", "tcp6"):
        data = read_bytes(f"{PROC}/net/{name}")
        if not data:
            continue
        for port, state, _tx, rx in _TCP_LINE.findall(data):
            counts[state] = counts.get(state, 0) + 1
            if port_hex is not None and state == b"0A" and port == port_hex:
                queue = (queue or 0) + int(rx, 16)
    states = {TCP_STATES.get(k.decode(), k.decode()): v for k, v in counts.items()}
    return states, queue


def cgroup_cpu_quota(pid: int | str = "self") -> float | None:
    """The CPU quota of PID's cgroup in cores, or None when unlimited or unknown (v2 cpu.max, v1 cfs_quota)."""
    text = read_text(f"{PROC}/{pid}/cgroup") or ""
    for line in text.splitlines():
        hier, controllers, path = line.split(":", 2)
        if hier == "0" and controllers == "":
            for base in (f"/sys/fs/cgroup{path}", "/sys/fs/cgroup"):
                raw = read_text(f"{base}/cpu.max")
                if raw:
                    quota, period = raw.split()[:2]
                    return None if quota == "max" else int(quota) / int(period)
        if "cpu" in controllers.split(","):
            for base in (f"/sys/fs/cgroup/cpu{path}", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"):
                q = read_text(f"{base}/cpu.cfs_quota_us")
                p = read_text(f"{base}/cpu.cfs_period_us")
                if q and p:
                    return None if int(q) <= 0 else int(q) / int(p)
    return None


def proc_stat_fields(pid: int | str, tid: int | None = None) -> tuple[str, list[str]] | None:
    """(comm, fields after comm) of /proc/PID/stat or /proc/PID/task/TID/stat; fields[0] is the state."""
    path = f"{PROC}/{pid}/stat" if tid is None else f"{PROC}/{pid}/task/{tid}/stat"
    text = read_text(path)
    if not text:
        return None
    head, _, tail = text.rpartition(")")
    return head.partition("(")[2], tail.split()


def schedstat(pid: int, tid: int) -> tuple[int, int] | None:
    """(ns on CPU, ns runnable but waiting) for one thread."""
    text = read_text(f"{PROC}/{pid}/task/{tid}/schedstat")
    if not text:
        return None
    f = text.split()
    return int(f[0]), int(f[1])


def list_tids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"{PROC}/{pid}/task")]
    except OSError:
        return []


def count_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"{PROC}/{pid}/fd"))
    except OSError:
        return None


def io_bytes(pid: int) -> tuple[int, int] | None:
    """(read_bytes, write_bytes) that reached the storage layer, from /proc/PID/io."""
    text = read_text(f"{PROC}/{pid}/io")
    if not text:
        return None
    vals: dict[str, int] = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        vals[k] = int(v)
    return vals.get("read_bytes", 0), vals.get("write_bytes", 0)


def ctx_switches(pid: int, tid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of one thread (/proc/PID/status counts only its leader)."""
    vol = invol = 0
    for line in (read_text(f"{PROC}/{pid}/task/{tid}/status") or "").splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches"):
            invol = int(line.split()[1])
    return vol, invol


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir(PROC) if n.isdigit()]


def exists(path: str) -> bool:
    return Path(path).exists()
