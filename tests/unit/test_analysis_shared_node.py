"""The verdict on a node that other processes keep busy, and the signals the real demo runs showed: a busy node
is a second finding unless the target is starved of CPU; client calls and idle keep-alive reads are told apart;
fds at the limit is unambiguous over a short run; a disk that the target fills, not someone else."""

from __future__ import annotations

from bottlenecktop.analysis.findings import SATURATED, WARNING, Finding
from bottlenecktop.analysis.use import find_findings
from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.samples import DiskSample, ProcBrief
from bottlenecktop.probes.stack_classify import classify
from tests.support.timeline_builder import PID, TimelineBuilder, header, node, proc, stacks

PY = "/usr/lib/python3.11"
IDLE_KEEPALIVE = ("readinto (socket.py:706)", {"select": 100.0})  # as classified now: idle by design


def by_resource(findings: list[Finding]) -> dict[str, Finding]:
    return {f.resource: f for f in findings}


def others_busy() -> object:
    """Both cores full, mostly with some other process."""
    n = node(busy=100, ncpu=2, psi=80, runq=7)
    n.top_procs = [ProcBrief(pid=2019, name="python3", cpu_pct=80.0, rss=1)]
    return n


def lock_window(queued: int = 20) -> object:
    return stacks([(f"h{k}", 40, {"lock": 95.0}, "Condition.wait (threading.py:327)") for k in range(queued)]
                  + [(f"s{k}", 40, {"sleep": 95.0}, "work (work.py:57)") for k in range(4)]
                  + [(f"k{k}", 40, IDLE_KEEPALIVE[1], IDLE_KEEPALIVE[0]) for k in range(100)])


def test_lock_stays_the_bottleneck_while_other_processes_fill_the_node() -> None:
    b = TimelineBuilder(header(ncpu=2))
    win = lock_window()
    b.step(135, p99=30, node=others_busy(), target=proc(cpu=7, threads=[("Thread-1", 2.0)]), stacks=win)
    b.step(200, achieved=190, p99=600, node=others_busy(), target=proc(cpu=9, threads=[("Thread-1", 2.0)]),
           stacks=win)
    for f in b.frames:
        assert f.target is not None
        f.target.run_delay_ms = 90.0  # a little wait at each wake-up: 0.5 ms per request, not a limit
    b.outcome(135, p99=30)
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "lock", v["findings"]
    assert "busy with other work" in v["bottleneck"]["evidence"][0]
    cpu = next(f for f in v["findings"] if f["resource"] == "cpu")
    assert cpu["severity"] == WARNING
    assert any("waited only 90 ms per second for a CPU" in e for e in cpu["evidence"])
    assert any("busiest: python3 (pid 2019)" in e for e in cpu["evidence"])


def test_a_target_starved_of_cpu_makes_the_node_cpu_the_limit() -> None:
    # Its one busy thread gets 55 % of a core and waits 400 ms/s to run: more CPU would serve more requests.
    b = TimelineBuilder(header(ncpu=2))
    target = proc(cpu=60, threads=[("gil-work_0", 55.0), ("Thread-1", 3.0)])
    target.run_delay_ms = 400.0
    win = stacks([("gil-work_0", 200, {}, "")] + [(f"h{k}", 40, {"lock": 95.0}, "Future.result (_base.py:451)")
                                                  for k in range(6)], gil=60)
    b.ticks(8, node=others_busy(), target=target, stacks=win)
    found = by_resource(find_findings(b.header, b.frames))
    assert found["cpu"].severity == SATURATED
    assert any("waited 400 ms per second for a CPU" in e and "starved" in e for e in found["cpu"].evidence)
    assert "lock" not in found or found["lock"].score < found["cpu"].score


def test_downstream_from_the_client_wait_class_while_the_node_is_busy_elsewhere() -> None:
    win = stacks([(f"h{k}", 40, {"client": 95.0}, "SocketIO.readinto (socket.py:706)") for k in range(24)]
                 + [(f"k{k}", 40, IDLE_KEEPALIVE[1], IDLE_KEEPALIVE[0]) for k in range(60)])
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=others_busy(), target=proc(cpu=6, threads=[("Thread-1", 1.0)]), stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "downstream" and f.severity == SATURATED and f.scope == f"pid {PID}"
    assert "waiting on another service" in f.evidence[0]


def test_socket_waits_are_split_into_client_calls_idle_reads_and_the_rest() -> None:
    server = ("BaseHTTPRequestHandler.handle_one_request", f"{PY}/http/server.py", 410)
    read = ("SocketIO.readinto", f"{PY}/socket.py", 706)
    call = [("HTTPConnection.getresponse", f"{PY}/http/client.py", 1390),
            ("HTTPResponse.begin", f"{PY}/http/client.py", 318), ("HTTPResponse._read_status", f"{PY}/http/client.py",
                                                                   279)]
    assert classify([server, read]) == "select"  # waiting for the client's next request: idle
    assert classify([server, ("do_GET", "/app/demo.py", 3), *call, read]) == "client"
    assert classify([server, ("do_POST", "/app/demo.py", 9), read]) == "socket"  # reading a request body
    assert classify([("connect", "/app/db.py", 4), ("create_connection", f"{PY}/socket.py", 851)]) == "client"


def test_pwrite_is_a_disk_wait(tmp_path: object) -> None:
    import pathlib

    src = pathlib.Path(str(tmp_path)) / "wal.py"
    src.write_text("os.pwrite(fd, block, offset)\n")
    assert classify([("work", str(src), 1)]) == "disk"


def test_fds_at_the_limit_is_a_finding_even_over_a_short_run() -> None:
    # The limit is reached in the first step: three seconds at the limit with requests failing, then the end.
    b = TimelineBuilder(header(ncpu=2))
    b.step(20, achieved=8, errors={"http_5xx": 12}, seconds=3, node=node(busy=8, ncpu=2),
           target=proc(fds=256, fd_limit=256))
    b.outcome(None, reason="errors", confirmed=False)
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "fds", v
    text = " ".join(v["bottleneck"]["evidence"])
    assert "held 256 open file descriptors of its limit 256" in text
    assert "before the ramp sustained any step" in text and "ulimit -n" in text


def test_fds_near_the_limit_without_errors_for_a_moment_is_no_saturation() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(3, node=node(busy=8, ncpu=2), target=proc(fds=235, fd_limit=256))
    found = by_resource(find_findings(b.header, b.frames))
    assert found["fds"].severity == WARNING


def disk_busy(target_bps: float, device_bps: float) -> dict[str, DiskSample]:
    return {"vda": DiskSample(busy_pct=99, queue=15, await_ms=3.5, w_iops=4000, w_bps=device_bps)}


def test_a_device_the_target_fills_is_its_disk_bottleneck() -> None:
    win = stacks([(f"h{k}", 40, {"disk": 90.0}, "work (work.py:80)") for k in range(12)]
                 + [(f"k{k}", 40, IDLE_KEEPALIVE[1], IDLE_KEEPALIVE[0]) for k in range(20)])
    target = proc(cpu=20)
    target.write_bps = 2.2e9
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=node(busy=20, ncpu=2, iowait=10, psi_io=60, disks=disk_busy(2.2e9, 2.2e9)), target=target,
            stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "disk" and f.severity == SATURATED
    assert f.evidence[0].startswith("disk vda 99 % busy for 8 s")
    assert any("the target moved 2200 MB/s to and from storage of the device's 2200 MB/s" in e for e in f.evidence)
    assert "waiting on file writes or fsync" in f.evidence[-1]


def test_a_device_kept_busy_by_another_process_is_only_a_warning() -> None:
    target = proc(cpu=5)
    target.write_bps = 1e5
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=node(busy=20, ncpu=2, disks=disk_busy(1e5, 2e9)), target=target)
    assert by_resource(find_findings(b.header, b.frames))["disk"].severity == WARNING


def test_fds_running_out_after_sustained_steps_says_the_count_not_the_rate() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.step(20, seconds=3, node=node(busy=8, ncpu=2), target=proc(fds=120, fd_limit=256))
    b.step(30, achieved=10, errors={"http_5xx": 20}, seconds=3, node=node(busy=8, ncpu=2),
           target=proc(fds=256, fd_limit=256))
    b.outcome(20, reason="errors", confirmed=False)
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "fds"
    assert any("after about 60 requests" in e and "at any rate" in e for e in v["bottleneck"]["evidence"])


def test_a_driver_late_for_want_of_cpu_does_not_take_the_verdict() -> None:
    # The driver used 3 % of a core but sent requests late: it waited for a CPU on the busy node like the rest.
    b = TimelineBuilder(header(ncpu=2))
    win = lock_window()
    target = proc(cpu=7, threads=[("Thread-1", 2.0)])
    target.run_delay_ms = 90.0
    b.step(135, p99=30, node=others_busy(), target=target, stacks=win, driver_cpu=3.0)
    b.step(200, achieved=150, p99=300, node=others_busy(), target=target, stacks=win, driver_cpu=3.0, late=40,
           sustained=False, reason="driver")
    b.outcome(135, p99=30, reason="driver", driver_limited=True)
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "lock", v["findings"]
    assert any("waited for a CPU on the busy node, so the magic number is a lower bound" in e
               for e in v["bottleneck"]["evidence"])
    assert v["capacity"]["lower_bound"] is True


def test_a_thread_always_running_in_its_stack_but_given_a_third_of_a_core_is_starved() -> None:
    b = TimelineBuilder(header(ncpu=2))
    target = proc(cpu=33, threads=[("python3", 31.0), ("python3", 2.0)])
    target.run_delay_ms = 700.0
    win = stacks([("gil-work_0", 200, {}, "")] + [(f"h{k}", 40, {"lock": 95.0}, "Future.result (_base.py:451)")
                                                  for k in range(30)], gil=40)
    b.ticks(8, node=others_busy(), target=target, stacks=win)
    assert by_resource(find_findings(b.header, b.frames))["cpu"].severity == SATURATED


def test_stacks_without_working_threads_fall_back_to_latency_for_starvation() -> None:
    # py-spy saw only idle threads this window: the run delay is compared with the latency per request instead.
    b = TimelineBuilder(header(ncpu=2))
    target = proc(cpu=15, threads=[("python3", 2.0)])
    target.run_delay_ms = 300.0  # 1.2 ms per request at 250 req/s against a 40 ms median: not a limit
    win = stacks([(f"k{k}", 40, IDLE_KEEPALIVE[1], IDLE_KEEPALIVE[0]) for k in range(50)])
    b.step(250, p50=40, p99=150, node=others_busy(), target=target, stacks=win)
    assert by_resource(find_findings(b.header, b.frames))["cpu"].severity == WARNING


def test_a_driver_late_while_idle_on_a_busy_node_makes_the_cpu_warning_the_verdict() -> None:
    # The cpu demo on 2 cores: the node 85 % busy (a warning alone), the driver at 3 % of a core yet late. A
    # runnable task that waited for a CPU is the evidence the warning lacked; the driver is not the limit.
    b = TimelineBuilder(header(ncpu=2))
    target = proc(cpu=165, threads=[("python3", 60.0), ("python3", 55.0), ("python3", 50.0)])
    b.step(135, p99=30, node=node(busy=70, ncpu=2), target=target, driver_cpu=3.0)
    b.step(200, achieved=145, p99=800, node=node(busy=85, ncpu=2), target=target, driver_cpu=3.0, late=18,
           sustained=False, reason="driver")
    b.step(200, achieved=131, p99=730, node=node(busy=85, ncpu=2), target=target, driver_cpu=3.0, late=18,
           sustained=False, reason="driver")
    b.outcome(135, p99=30, reason="driver", driver_limited=True)
    v = build_verdict(b.header, b.frames).to_json_dict()
    assert v["bottleneck"]["resource"] == "cpu", v["findings"]
    assert any("runnable tasks waited for a CPU" in e for e in v["bottleneck"]["evidence"])


def test_a_driver_late_while_idle_on_an_idle_node_stays_the_verdict() -> None:
    # Without a busy CPU to blame, lateness is the driver's own (a stalled event loop): it keeps the verdict.
    b = TimelineBuilder(header(ncpu=2))
    target = proc(cpu=20)
    b.step(135, p99=30, node=node(busy=15, ncpu=2), target=target, driver_cpu=3.0)
    b.step(200, achieved=145, p99=800, node=node(busy=15, ncpu=2), target=target, driver_cpu=3.0, late=18,
           sustained=False, reason="driver")
    b.outcome(135, p99=30, reason="driver", driver_limited=True)
    v = build_verdict(b.header, b.frames).to_json_dict()
    assert v["bottleneck"]["resource"] == "load-driver", v["findings"]
