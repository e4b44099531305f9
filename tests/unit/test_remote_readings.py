"""Exporter pages -> samples, on pages written here: counter resets, missing signals, NaN, thread sums."""

from __future__ import annotations

import pytest

from bottlenecktop.probes.remote.address import AddressError, shown, split
from bottlenecktop.probes.remote.groups import groups_reading
from bottlenecktop.probes.remote.metrics import parse
from bottlenecktop.probes.remote.node import NODE_METRICS, node_reading
from bottlenecktop.probes.remote.probe import merge_hosts
from bottlenecktop.probes.remote.prometheus import matcher, node_query
from bottlenecktop.probes.samples import RemoteGroup, RemoteSample


def node_page(idle: float, user: float, psi: float | None = 10.0, disk_io: float = 1.0, out_segs: float = 1000,
              extra: str = "") -> str:
    lines = ["# TYPE node_cpu_seconds_total counter"]
    for cpu in ("0", "1"):
        for mode, v in (("idle", idle), ("user", user), ("system", 1.0), ("iowait", 0.0), ("nice", 0.0),
                        ("irq", 0.0), ("softirq", 0.0), ("steal", 0.0)):
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} {v}')
    if psi is not None:
        lines += ["# TYPE node_pressure_cpu_waiting_seconds_total counter",
                  f"node_pressure_cpu_waiting_seconds_total {psi}"]
    lines += [
        "node_memory_MemTotal_bytes 1000", "node_memory_MemAvailable_bytes 250",
        f'node_disk_io_time_seconds_total{{device="vda"}} {disk_io}',
        *(f'node_disk_{m}{{device="vda"}} 1' for m in ("reads_completed_total", "read_bytes_total",
                                                       "read_time_seconds_total", "writes_completed_total",
                                                       "written_bytes_total", "write_time_seconds_total",
                                                       "io_time_weighted_seconds_total")),
        f"node_netstat_Tcp_OutSegs {out_segs}", "node_netstat_Tcp_RetransSegs 0", "node_procs_running 5",
        "node_load1 3.5", "node_unrelated_metric 7", extra,
    ]
    return "\n".join(lines) + "\n"


def test_rates_match_the_local_arithmetic() -> None:
    prev = parse(node_page(idle=100, user=10, psi=10.0), NODE_METRICS)
    cur = parse(node_page(idle=101, user=13, psi=10.5, disk_io=1.25), NODE_METRICS)
    got = node_reading(cur, prev, 2.0)
    assert got.sample is not None and not got.resets and got.missing == [
        "psi-memory", "psi-io", "vmstat", "network", "listen-overflows"]
    cpu = got.sample.cpu
    assert cpu.ncpu == 2 and cpu.procs_running == 5
    assert cpu.busy_pct == pytest.approx(75.0)  # per core: 3 user of 4 seconds
    assert cpu.per_core == [75.0, 75.0]
    assert cpu.psi_some == pytest.approx(25.0)  # 0.5 s waited over 2 s
    assert got.sample.memory.available_pct == pytest.approx(25.0)
    assert got.sample.disks["vda"].busy_pct == pytest.approx(12.5)
    assert got.sample.psi_io_some is None and got.sample.memory.psi_some is None  # missing: None, not 0
    assert got.load1 == 3.5
    assert "node_unrelated_metric" not in cur


def test_first_reading_is_a_gap() -> None:
    got = node_reading(parse(node_page(100, 10)), None, 0.0)
    assert got.sample is None and got.load1 == 3.5


def test_a_node_counter_going_down_is_a_gap_for_that_tick() -> None:
    prev = parse(node_page(idle=100, user=10))
    cur = parse(node_page(idle=5, user=1))  # the node rebooted
    got = node_reading(cur, prev, 1.0)
    assert got.sample is None
    assert any(r.startswith("node_cpu_seconds_total") for r in got.resets)
    after = node_reading(parse(node_page(idle=6, user=1.5)), cur, 1.0)
    assert after.sample is not None  # +1 s idle, +0.5 s user:
    assert after.sample.cpu.busy_pct == pytest.approx(100 * 0.5 / 1.5)


def test_a_device_counter_going_down_drops_only_that_device() -> None:
    got = node_reading(parse(node_page(101, 11, disk_io=0.5)), parse(node_page(100, 10, disk_io=1.0)), 1.0)
    assert got.sample is not None and "vda" not in got.sample.disks
    assert got.resets == ['node_disk_io_time_seconds_total{device=vda}']


def test_tcp_counter_reset_is_a_node_gap_and_no_psi_is_missing() -> None:
    got = node_reading(parse(node_page(101, 11, psi=None, out_segs=5)), parse(node_page(100, 10, psi=None)), 1.0)
    assert got.sample is None and "psi-cpu" in got.missing


def test_nan_is_no_value() -> None:
    page = node_page(100, 10).replace("node_load1 3.5", "node_load1 NaN")
    assert "node_load1" not in parse(page, NODE_METRICS)


PROCS = """# TYPE namedprocess_namegroup_cpu_seconds_total counter
namedprocess_namegroup_cpu_seconds_total{{groupname="web",mode="user"}} {user}
namedprocess_namegroup_cpu_seconds_total{{groupname="web",mode="system"}} 1
namedprocess_namegroup_num_procs{{groupname="web"}} 2
namedprocess_namegroup_num_threads{{groupname="web"}} 9
namedprocess_namegroup_open_filedesc{{groupname="web"}} 40
namedprocess_namegroup_worst_fd_ratio{{groupname="web"}} 0.04
namedprocess_namegroup_memory_bytes{{groupname="web",memtype="resident"}} 5e+07
namedprocess_namegroup_thread_count{{groupname="web",threadname="worker"}} 8
namedprocess_namegroup_thread_count{{groupname="web",threadname="main"}} 1
namedprocess_namegroup_thread_cpu_seconds_total{{groupname="web",mode="user",threadname="worker"}} {worker}
namedprocess_namegroup_thread_cpu_seconds_total{{groupname="web",mode="system",threadname="worker"}} 0
namedprocess_namegroup_thread_cpu_seconds_total{{groupname="web",mode="user",threadname="main"}} {main}
namedprocess_namegroup_thread_cpu_seconds_total{{groupname="web",mode="system",threadname="main"}} 0
"""


def test_groups_sum_threads_by_name_and_say_how_many() -> None:
    prev = parse(PROCS.format(user=10, worker=5, main=1))
    cur = parse(PROCS.format(user=12, worker=6.6, main=1.9))
    got = groups_reading(cur, prev, 2.0)
    assert got.missing == [] and not got.resets
    (web,) = got.groups
    assert web.cpu_pct == pytest.approx(100.0) and web.procs == 2 and web.num_threads == 9
    assert [(t.name, t.count) for t in web.threads] == [("worker", 8), ("main", 1)]  # busiest first
    assert web.threads[0].cpu_pct == pytest.approx(80.0) and web.threads[1].cpu_pct == pytest.approx(45.0)
    assert web.rss == 50_000_000 and web.fds == 40 and web.fd_ratio == pytest.approx(0.04)


def test_a_thread_sum_going_down_drops_that_thread() -> None:
    prev = parse(PROCS.format(user=10, worker=5, main=1))
    cur = parse(PROCS.format(user=11, worker=2, main=1.5))  # workers exited: their sum went down
    (web,) = groups_reading(cur, prev, 1.0).groups
    assert [t.name for t in web.threads] == ["main"]


def test_addresses_keep_no_userinfo() -> None:
    assert split("10.0.0.7:9100", "/metrics") == ("http://10.0.0.7:9100/metrics", "10.0.0.7:9100")
    url, host = split("http://u:secret@[::1]:9256/", "/metrics")
    assert host == "[::1]:9256" and url.endswith("/metrics")
    assert "secret" not in shown("http://u:secret@h:1/metrics")
    with pytest.raises(AddressError):
        split("ftp://h:1", "/metrics")
    with pytest.raises(AddressError):
        split("http://h:99999", "/metrics")


def test_selector_and_query() -> None:
    assert matcher('{job="node"}') == 'job="node"' == matcher(' job="node" ')
    q = node_query('job="node"')
    assert q.startswith('{__name__=~"node_cpu_seconds_total|') and q.endswith(',job="node"}')
    assert "node_pressure_.*" in q


def test_process_groups_join_the_node_of_the_same_host() -> None:
    node = RemoteSample(host="10.0.0.7:9100", missing=["psi-io"])
    procs = RemoteSample(host="10.0.0.7:9256", source="process-exporter", groups=[RemoteGroup(group="web")],
                         missing=["threads"])
    other = RemoteSample(host="10.0.0.8:9256", source="process-exporter")
    merged = merge_hosts([node, procs, other])
    assert [m.host for m in merged] == ["10.0.0.7:9100", "10.0.0.8:9256"]
    assert merged[0].groups[0].group == "web" and merged[0].missing == ["psi-io", "threads"]
