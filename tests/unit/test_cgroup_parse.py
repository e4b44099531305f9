"""The cgroup probe's readers on captured text: this VM's hybrid mount table (v1 controllers, v2 beside them),
a pure v2 machine's, a container's whose cgroup root is not '/', and real cpu.stat / pressure / oom_control."""

from __future__ import annotations

from bottlenecktop.probes.cgroup import ancestors, cgroup_dir, parse_keyed, parse_mountinfo, parse_psi

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2 = "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
CONTAINER_V1 = ("1200 1190 0:31 /kubepods/pod1/ctr /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup "
                "rw,cpu,cpuacct\n")


def test_hybrid_mounts() -> None:
    v2, v1 = parse_mountinfo(HYBRID)
    assert v2 is not None and v2.point == "/sys/fs/cgroup/unified"
    assert v1["cpu"].point == "/sys/fs/cgroup/cpu" and v1["memory"].point == "/sys/fs/cgroup/memory"
    assert v1["systemd"].point == "/sys/fs/cgroup/systemd"  # name=systemd
    assert cgroup_dir(v1["memory"], "/process_api/b979") == "/sys/fs/cgroup/memory/process_api/b979"
    assert cgroup_dir(v1["cpu"], "/") == "/sys/fs/cgroup/cpu"


def test_pure_v2_and_container_roots() -> None:
    v2, v1 = parse_mountinfo(PURE_V2)
    assert v2 is not None and v2.point == "/sys/fs/cgroup" and not v1
    assert cgroup_dir(v2, "/system.slice/app.service") == "/sys/fs/cgroup/system.slice/app.service"
    _, c1 = parse_mountinfo(CONTAINER_V1)
    # the container sees its own cgroup at the mount point: the path's known prefix is the mount's root
    assert cgroup_dir(c1["cpu"], "/kubepods/pod1/ctr") == "/sys/fs/cgroup/cpu,cpuacct"
    assert c1["cpuacct"] == c1["cpu"]


def test_ancestors_leaf_first() -> None:
    assert ancestors("/a/b") == ["/a/b", "/a", "/"]
    assert ancestors("/") == ["/"]


def test_counter_files() -> None:
    v1_stat = "nr_periods 21\nnr_throttled 19\nthrottled_time 2551226016\nnr_bursts 0\nburst_time 0\n"
    assert parse_keyed(v1_stat) == {"nr_periods": 21, "nr_throttled": 19, "throttled_time": 2551226016,
                                    "nr_bursts": 0, "burst_time": 0}
    assert parse_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")["oom_kill"] == 3
    psi = "some avg10=9.91 avg60=21.61 avg300=17.69 total=87295213\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    assert parse_psi(psi) == (87295213, 0)
    assert parse_psi(None) == (None, None)
