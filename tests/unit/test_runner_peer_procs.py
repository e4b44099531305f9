"""The tick loop samples the local processes behind the target's downstream peers (Frame.peer_procs): one probe per
pid kept across ticks, the target itself never, a pid that cannot be probed left out without ending the run."""

from __future__ import annotations

import time

from bottlenecktop.probes.samples import DownstreamPeer, PeersSample, ProcSample, ThreadSample
from bottlenecktop.runner import Runner
from bottlenecktop.session import Header, Session, Target

TICK_S = 0.02


class FakeProc:
    state = ""  # the scheduler state the runner reads (never stopped here)

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.calls = 0

    def sample(self) -> ProcSample:
        self.calls += 1
        return ProcSample(pid=self.pid, name=f"p{self.pid}", cpu_pct=99.0,
                          threads=[ThreadSample(tid=self.pid, name="main", cpu_pct=99.0)])


class FakePeers:
    def sample(self) -> PeersSample:
        return PeersSample(downstream=[DownstreamPeer(peer="127.0.0.1:6379", sockets=8, outstanding=3, pid=812,
                                                      process="redis-server"),
                                       DownstreamPeer(peer="127.0.0.1:5432", sockets=2, pid=813, process="postgres"),
                                       DownstreamPeer(peer="127.0.0.1:8001", sockets=1, pid=7, process="self"),
                                       DownstreamPeer(peer="10.0.0.9:80", sockets=1)])


def test_each_local_peer_is_probed_by_one_probe_for_the_whole_run() -> None:
    made: list[int] = []
    probes: dict[int, FakeProc] = {}

    def factory(pid: int) -> FakeProc:
        made.append(pid)
        if pid == 813:
            raise ProcessLookupError(pid)  # gone, or not ours: left out
        probes[pid] = FakeProc(pid)
        return probes[pid]

    session = Session(Header(target=Target(pid=7)))
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, target=FakeProc(7),
                    kernel=(None, FakePeers(), None), peer_probe=factory, max_time=5 * TICK_S)
    thread = runner.start()
    assert runner.wait(5.0), "the loop did not end"
    thread.join(1.0)
    frames = session.snapshot()
    assert len(frames) >= 3
    assert sorted(made) == [812, 813]  # once each; never the target (pid 7), never a remote peer
    assert probes[812].calls == len(frames)
    assert all([p.pid for p in f.peer_procs] == [812] for f in frames)
    assert frames[-1].peer_procs[0].threads[0].cpu_pct == 99.0
