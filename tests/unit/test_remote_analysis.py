"""Remote nodes judged by the node rules: the host in the scope, exporter evidence, confidence that reflects
missing signals and gaps; a process-exporter group's hot thread is cpu-thread on that host."""

from __future__ import annotations

import msgspec

from bottlenecktop.analysis.remote import on_this_box
from bottlenecktop.analysis.use import find_findings
from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.samples import (
    CpuSample,
    LoadSecond,
    NodeSample,
    RemoteGroup,
    RemoteSample,
    RemoteThread,
)
from bottlenecktop.session import Frame, Header, Target

HOST = "10.0.0.7:9100"


def header() -> Header:
    return Header(mode="ramp", cpu_count=2, target=Target(url="http://10.0.0.7:8000/", local=False),
                  remote_sources=[f"http://{HOST}"])


def node(busy: float, psi: float | None = 30.0) -> NodeSample:
    return NodeSample(cpu=CpuSample(busy_pct=busy, ncpu=4, procs_running=9, psi_some=psi))


def frames(busy: float = 98.0, psi: float | None = 30.0, missing: tuple[str, ...] = (), gaps: int = 0,
           groups: list[RemoteGroup] | None = None, n: int = 20) -> list[Frame]:
    out = []
    for i in range(n):
        gap = 5 <= i < 5 + gaps
        remote = RemoteSample(host=HOST, node=None if gap else node(busy, psi), stale=gap, missing=list(missing),
                              groups=groups or [])
        load = LoadSecond(t=i + 1.0, offered_rps=500, achieved_rps=400, p99_ms=400.0, completed=400, ok=400,
                          driver_cpu_pct=40.0)
        out.append(Frame(t=i + 1.0, load=load, node=node(10.0), remote=[remote]))
    return out


def test_busy_remote_node_is_cpu_on_that_node_with_exporter_evidence() -> None:
    v = build_verdict(header(), frames())
    assert v.bottleneck.resource == "cpu" and v.bottleneck.scope == f"node {HOST}"
    assert v.bottleneck.evidence[0].startswith(f"node {HOST} (node_exporter): the node's 4 cores were 98 % busy")
    assert any("PSI cpu some 30 %" in e for e in v.bottleneck.evidence)


def test_local_node_is_not_judged_when_only_remote_nodes_are_the_target() -> None:
    quiet = [Frame(t=f.t, load=f.load, node=node(99.0), remote=[RemoteSample(host=HOST, node=node(5.0))])
             for f in frames()]
    here = header()
    here.target.local = True  # the URL is on this box, but no process of it is: the exporters say where it runs
    found = find_findings(here, quiet, 5.0)
    assert not any(f.resource == "cpu" for f in found), found  # this box is only the load generator's
    here.remote_sources = []
    assert any(f.resource == "cpu" and not f.host for f in find_findings(here, quiet, 5.0))


def test_missing_psi_and_gaps_lower_the_confidence() -> None:
    full = build_verdict(header(), frames()).bottleneck
    no_psi = build_verdict(header(), frames(psi=None, missing=("psi-cpu",))).bottleneck
    assert no_psi.resource == "cpu" and no_psi.confidence < full.confidence
    assert any("does not offer psi-cpu" in e for e in no_psi.evidence)
    gappy = build_verdict(header(), frames(gaps=1)).bottleneck  # one gap inside the span is skipped over
    assert gappy.resource == "cpu" and gappy.confidence < full.confidence
    assert any("1 of" in e and "gaps" in e for e in gappy.evidence)


def test_a_long_gap_is_not_read_as_an_idle_node() -> None:
    found = [f for f in find_findings(header(), frames(gaps=12), 5.0) if f.host]
    for f in found:  # whatever is found lies outside the gap: no span runs through it
        assert f.t_end <= 5.0 or f.t_start >= 16.0, f


def test_hot_thread_of_a_group_is_cpu_thread_on_that_node() -> None:
    web = RemoteGroup(group="web", procs=1, cpu_pct=101.0, num_threads=5,
                      threads=[RemoteThread(name="uvicorn", cpu_pct=97.0), RemoteThread(name="worker",
                                                                                        cpu_pct=4.0, count=4)])
    v = build_verdict(header(), frames(busy=30.0, psi=0.0, groups=[web]))
    assert v.bottleneck.resource == "cpu-thread", v.bottleneck
    assert v.bottleneck.scope == f"thread uvicorn of web on node {HOST}"
    assert "at 97 % of one core" in v.bottleneck.evidence[0] and "process-exporter" in v.bottleneck.evidence[0]


def test_threads_sharing_a_name_are_not_one_hot_thread() -> None:
    pool = RemoteGroup(group="web", procs=1, cpu_pct=300.0, num_threads=8,
                       threads=[RemoteThread(name="worker", cpu_pct=300.0, count=8)])  # 37 % each on average
    found = find_findings(header(), frames(busy=80.0, psi=0.0, groups=[pool]), 5.0)
    assert not any(f.resource == "cpu-thread" for f in found), found


def test_the_observer_is_taken_out_only_when_the_exporter_is_on_this_box() -> None:
    def run(host: str) -> list[str]:
        fs = frames()
        for f in fs:
            f.remote = [msgspec.structs.replace(s, host=host) for s in f.remote]
        lead = build_verdict(header(), fs).bottleneck
        assert lead.resource == "cpu" and lead.scope == f"node {host}"
        return lead.evidence

    assert any("taken out of the node's CPU" in e for e in run("127.0.0.1:9100"))
    assert not any("taken out" in e for e in run(HOST))
    assert on_this_box("[::1]:9100") and on_this_box("localhost:9100") and not on_this_box("10.0.0.7:9100")
