"""WaitSampler against real children: each thread's wait class and the peer it waits on, as the kernel says."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.probes.cgroup import CgroupProbe
from bottlenecktop.probes.peers import PeerProbe
from bottlenecktop.probes.process import ProcessProbe
from bottlenecktop.probes.samples import ThreadWait, WaitSample
from bottlenecktop.probes.threads import WaitSampler
from bottlenecktop.recording import RecordingWriter, read_recording
from bottlenecktop.runner import Runner
from bottlenecktop.session import Header, Session, Target
from tests.support.wait_children import (
    THREADED_PROXY,
    UNIX_AND_V6,
    WAITS,
    ListenServer,
    SlowReplyServer,
    http_clients,
    process,
)


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _threads_by_tid(pid: int, seconds: float = 2.0) -> tuple[WaitSample, dict[int, ThreadWait]]:
    """A sample that lists every thread (a live run keeps the top 8), and its threads by tid."""
    sampler = WaitSampler(pid, t0=time.monotonic(), top_threads=64)
    sampler.start()
    try:
        time.sleep(seconds)
        s = sampler.take()
    finally:
        sampler.stop()
    assert s is not None and s.sweeps >= 2, s
    return s, {t.tid: t for t in s.top_threads}


@pytest.fixture()
def servers() -> Iterator[list[ListenServer]]:
    three = [ListenServer() for _ in range(3)]
    yield three
    for s in three:
        s.close()


def test_each_wait_has_its_class_and_peer(tmp_path: Path, servers: list[ListenServer]) -> None:
    script = _script(tmp_path, "waits_child.py", WAITS)
    ports = [str(s.port) for s in servers]
    with process([sys.executable, script, "20", *ports, str(tmp_path / "fsync.bin")]) as (proc, words):
        tids = {k: int(v) for k, v in (w.split("=") for w in words)}
        # 5 s (about 25 sweeps): on a fast disk the fsync thread is in D state in only some of them (a CI run saw
        # it in none of 15 sweeps over 3 s).
        sample, by_tid = _threads_by_tid(proc.pid, 5.0)
    def top(name: str) -> ThreadWait:
        tw = by_tid.get(tids[name])
        assert tw is not None, (name, tids[name], sorted(by_tid))
        return tw

    for name in ("event", "lock"):
        tw = top(name)
        assert tw.waits.get("futex", 0) >= 90, tw
        assert tw.syscall in ("futex", "futex_waitv"), tw
    peer0, peer1, peer2 = (f"127.0.0.1:{s.port}" for s in servers)
    recv, poll, epoll, select_ = top("recv"), top("poll"), top("epoll"), top("select")
    assert recv.waits.get("socket", 0) >= 90 and recv.peer == peer0, recv
    assert recv.syscall in ("recvfrom", "read", "recvmsg"), recv
    assert poll.waits.get("socket", 0) >= 90 and poll.peer == peer1, poll
    assert poll.syscall in ("poll", "ppoll"), poll
    assert epoll.waits.get("socket", 0) >= 90 and epoll.peer == peer2, epoll
    assert epoll.syscall.startswith("epoll"), epoll
    assert select_.waits.get("socket", 0) >= 90 and select_.peer == peer0, select_
    assert select_.syscall in ("select", "pselect6"), select_
    sleeper = top("sleeper")
    assert sleeper.waits.get("sleep", 0) >= 90 and sleeper.syscall in ("clock_nanosleep", "nanosleep"), sleeper
    disk = top("disk")
    assert disk.waits.get("disk", 0) > 0, disk  # in fsync (or D state) for part of the time, running the rest
    # the aggregate: every downstream peer appears, with its role and about one thread on it
    peers = {p.peer: p for p in sample.peers}
    assert set(peers) >= {peer0, peer1, peer2}, sample.peers
    assert all(peers[p].role == "downstream" for p in (peer0, peer1, peer2))
    assert 0.4 <= peers[peer1].threads <= 1.1, peers[peer1]
    assert sample.waits.get("futex", 0) > 10 and sample.waits.get("socket", 0) > 20, sample.waits
    assert sample.unresolved_pct == 0.0
    assert 0 < sample.cost_pct < 10


def test_threaded_server_workers_wait_on_downstream_accept_thread_idle(tmp_path: Path) -> None:
    down = SlowReplyServer(delay=3.0)
    try:
        script = _script(tmp_path, "proxy_child.py", THREADED_PROXY)
        with process([sys.executable, script, "20", str(down.port)]) as (proc, words):
            port, accept_tid = int(words[0]), int(words[1].split("=")[1])
            with http_clients(port, 4, timeout=10.0):
                time.sleep(0.5)  # the four requests reach the workers, which now wait on the downstream
                sample, by_tid = _threads_by_tid(proc.pid, 2.0)
    finally:
        down.close()
    workers = [t for t in sample.top_threads if t.peer == f"127.0.0.1:{down.port}"]
    assert len(workers) == 4, sample.top_threads
    assert all(t.waits.get("socket", 0) >= 90 for t in workers), workers
    acceptor = by_tid.get(accept_tid)
    assert acceptor is not None and acceptor.waits.get("idle", 0) >= 90, acceptor
    assert sample.waits.get("idle", 0) > 0, sample.waits
    assert "accept4" in sample.syscalls or "accept" in sample.syscalls, sample.syscalls
    top_peer = sample.peers[0]
    assert top_peer.peer == f"127.0.0.1:{down.port}" and top_peer.role == "downstream", sample.peers
    assert 3.0 <= top_peer.threads <= 4.2, top_peer


def test_target_that_exits_ends_the_sampler_without_raising(tmp_path: Path) -> None:
    script = _script(tmp_path, "short_child.py", "import time\nprint('ready', flush=True)\ntime.sleep(1.0)\n")
    with process([sys.executable, script]) as (proc, _):
        sampler = WaitSampler(proc.pid, t0=time.monotonic())
        sampler.start()
        time.sleep(0.5)
        first = sampler.take()
        proc.wait(timeout=10)
        time.sleep(0.8)
        gone = [sampler.take() for _ in range(3)]
        sampler.stop()
    assert first is not None and first.sweeps >= 1 and not first.error
    said = [g for g in gone if g is not None]
    assert said and said[-1].error == f"target pid {proc.pid} exited", gone  # said once, then nothing
    assert gone[-1] is None


def test_tick_loop_records_waits_peers_and_cgroup_and_survives_the_target_exit(
        tmp_path: Path, servers: list[ListenServer]) -> None:
    script = _script(tmp_path, "waits_child.py", WAITS)
    ports = [str(s.port) for s in servers]
    path = tmp_path / "rec.jsonl.gz"
    with process([sys.executable, script, "2.5", *ports, str(tmp_path / "fsync.bin")]) as (proc, _):
        t0 = time.monotonic()
        header = Header(mode="attach", target=Target(pid=proc.pid))
        session = Session(header)
        writer = RecordingWriter(path, header)
        runner = Runner(session, t0=t0, interval=0.5, target=ProcessProbe(proc.pid), writer=writer, max_time=5.0,
                        kernel=(WaitSampler(proc.pid, t0=t0), PeerProbe(proc.pid), CgroupProbe(proc.pid)))
        runner.run()
        writer.close()
    frames = session.frames
    with_waits = [f for f in frames if f.waits is not None and f.waits.sweeps]
    assert len(with_waits) >= 3, [f.waits for f in frames]
    assert all(w.waits is not None and w.waits.waits.get("futex", 0) > 0 for w in with_waits)
    assert any(f.peers is not None and {p.peer for p in f.peers.downstream} >= {f"127.0.0.1:{s.port}" for s in servers}
               for f in frames), [f.peers for f in frames]
    assert all(f.cgroup is not None for f in frames[:3])
    exited = [f for f in frames if f.waits is not None and f.waits.error]
    assert exited and exited[0].waits is not None and exited[0].waits.error == f"target pid {proc.pid} exited"
    assert any(f"target pid {proc.pid} exited" in e.text for f in frames for e in f.events)
    assert not any(t.name == "bottlenecktop-waits" and t.is_alive() for t in threading.enumerate())
    back = read_recording(path).frames
    assert [f.waits.waits if f.waits else None for f in back] == [f.waits.waits if f.waits else None for f in frames]
    size = len(msgspec.json.encode(with_waits[0]))
    assert size < 4000, size  # one frame's waits, peers and cgroup stay small: recordings are 1 Hz for hours


def test_unix_and_ipv6_peers_are_named(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen(4)
    v6 = socket.socket(socket.AF_INET6)
    try:
        v6.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    v6.listen(4)
    v6_peer = f"[::1]:{v6.getsockname()[1]}"
    accepted: list[socket.socket] = []
    # a server accepts: a connection still in the listen queue has no inode yet, and so no name to find
    acceptor = threading.Thread(target=lambda: accepted.append(unix.accept()[0]), daemon=True)
    acceptor.start()
    try:
        script = _script(tmp_path, "unix_v6_child.py", UNIX_AND_V6)
        with process([sys.executable, script, "20", path, str(v6.getsockname()[1])]) as (proc, words):
            tids = {k: int(v) for k, v in (w.split("=") for w in words)}
            sample, by_tid = _threads_by_tid(proc.pid, 1.5)
    finally:
        for c in accepted:
            c.close()
        unix.close()
        v6.close()
    assert by_tid[tids["unix"]].peer == f"unix:{path}" and by_tid[tids["unix"]].waits.get("socket", 0) >= 90
    assert by_tid[tids["v6"]].peer == v6_peer
    roles = {p.peer: p.role for p in sample.peers}
    assert roles == {f"unix:{path}": "unix", v6_peer: "downstream"}, sample.peers
