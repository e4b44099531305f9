"""The tick loop: one clock, one Frame per tick, built from every probe and the driver, appended to the session.

It runs on its own thread so that neither the screen nor the driver waits on a probe. The timer is re-armed
after each tick finishes (a slow tick skips ahead instead of piling up ticks).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import msgspec

from bottlenecktop.probes.discover import find_listener, listening, url_port
from bottlenecktop.probes.samples import (
    CgroupSample,
    LoadSecond,
    NodeSample,
    PeersSample,
    ProcSample,
    RampOutcome,
    RemoteSample,
    StackWindow,
    StepResult,
    WaitSample,
)
from bottlenecktop.session import Event, EventKind, Frame, Session


class _NodeProbe(Protocol):
    notices: list[str]

    def sample(self) -> NodeSample: ...


class _ProcProbe(Protocol):
    state: str  # the scheduler state at the last sample ("T": stopped), "" when unknown

    def sample(self) -> ProcSample: ...


class _RemoteProbe(Protocol):
    notices: list[str]

    def begin(self) -> None: ...
    def collect(self) -> list[RemoteSample]: ...
    def close(self) -> None: ...


class _StackProbe(Protocol):
    error: str | None

    def start(self) -> None: ...
    def take_window(self, t_end: float) -> StackWindow | None: ...
    def stop(self) -> None: ...


class _WaitProbe(Protocol):
    def start(self) -> None: ...
    def take(self, t_end: float | None = None) -> WaitSample | None: ...
    def stop(self, timeout: float = 2.0) -> None: ...


class _PeersProbe(Protocol):
    def sample(self) -> PeersSample: ...


class _CgroupProbe(Protocol):
    def sample(self) -> CgroupSample: ...


# The kernel-side probes of a target (the wait sampler, its peers, its cgroup), made again on attach.
KernelProbes = tuple[_WaitProbe | None, _PeersProbe | None, _CgroupProbe | None]


class _Driver(Protocol):
    timeline_lag_s: int  # seconds of reports to queue before the backlog gets frames of its own (probes.load.reports)

    def poll(self) -> list[LoadSecond | StepResult | RampOutcome]: ...
    def command(self, name: str, value: float | str | None = None) -> None: ...
    @property
    def done(self) -> bool: ...
    def stop(self, timeout: float = 5.0) -> None: ...
    def take_events(self) -> list[str]: ...


class _Writer(Protocol):
    error: str | None

    def append(self, frame: Frame) -> None: ...


# Attaching to a process a person picked on the screen: returns its process probe and, if possible, stacks.
AttachFactory = Callable[[int], tuple[_ProcProbe, _StackProbe | None]]


MAX_PEER_PROCS = 3  # local downstream processes sampled per tick
SCAN_EVERY_S = 5.0  # at most one scan of every process's sockets in this many seconds, while waiting for a restart


class _Relisten:
    """Who listens on the target's port now, asked only after the target died (a restart: the run follows it).

    Each call first reads /proc/net/tcp (cheap): while nobody listens, no process is scanned; the scan that maps
    the listening socket to its pid runs at most every SCAN_EVERY_S (it costs ~20 ms on a small box)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._last_scan = -SCAN_EVERY_S

    def __call__(self) -> int | None:
        if not listening(self.port):
            return None
        now = time.monotonic()
        if now - self._last_scan < SCAN_EVERY_S:
            return None
        self._last_scan = now
        return find_listener(self.port)


class Runner:
    """Drives the probes and the driver at a fixed interval and builds the timeline. Implements Controller."""

    def __init__(
        self,
        session: Session,
        *,
        t0: float,
        interval: float = 1.0,
        driver: _Driver | None = None,
        node: _NodeProbe | None = None,
        target: _ProcProbe | None = None,
        stacks: _StackProbe | None = None,
        driver_proc: _ProcProbe | None = None,
        self_proc: _ProcProbe | None = None,
        writer: _Writer | None = None,
        max_time: float | None = None,
        stack_window_s: float = 5.0,
        attach: AttachFactory | None = None,
        remote: _RemoteProbe | None = None,
        kernel: KernelProbes = (None, None, None),
        attach_kernel: Callable[[int], KernelProbes] | None = None,
        peer_probe: Callable[[int], _ProcProbe] | None = None,
        relisten: Callable[[], int | None] | None = None,
    ) -> None:
        self.session = session
        self.t0 = t0
        self.interval = interval
        self.driver = driver
        self.node = node
        self.target = target
        self.stacks = stacks
        self.driver_proc = driver_proc
        self.self_proc = self_proc
        self.writer = writer
        self.max_time = max_time
        self.stack_window_s = stack_window_s
        self.attach_factory = attach
        self.remote = remote  # scraped on worker threads: begun at the tick's start, collected within a budget
        self.waits, self.peers, self.cgroup = kernel
        self.attach_kernel = attach_kernel
        self.peer_probe = peer_probe
        # After the target died: the pid now listening on its port, to follow (None: nobody, or not known). By
        # default asked of this host when the URL is local and the run can attach to another process.
        self.relisten = relisten if relisten is not None else self._default_relisten()
        self._peer_probes: dict[int, _ProcProbe | None] = {}  # pid -> its probe (None: it could not be probed)
        self.outcome: RampOutcome | None = None
        self._outcome_recorded = False
        self.stop_reason = ""
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._marks: deque[str] = deque(maxlen=100)
        self._attach_pid: int | None = None
        self._loads: deque[LoadSecond] = deque()
        self._steps: deque[StepResult] = deque()
        self._said: set[str] = set()
        self._last_window = 0.0
        self._thread: threading.Thread | None = None
        self._target_gone = False
        self._gone_at = 0.0  # session seconds the target was seen gone
        self._stopped_at: float | None = None  # session seconds the target was first seen stopped (state T)
        self._thread_names: dict[int, str] = {}  # tid -> Python thread name, learnt from stack windows
        self.on_finish: Callable[[], object] | None = None  # runs on the loop's thread once everything stopped
        self.failure: str | None = None  # one line, when an exception ended the loop (the run then exits 1)

    # -- Controller -------------------------------------------------------------------------------------------
    def command(self, name: str, value: float | str | None = None) -> None:
        if name == "mark":
            self._marks.append(str(value) if value else "mark")
        elif name == "attach" and value is not None:
            self._attach_pid = int(value)
        elif name == "stop":
            self.stop("stopped")
        elif self.driver is not None:
            self.driver.command(name, value)

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Run the loop on a daemon thread and return it."""
        self._thread = threading.Thread(target=self.run, name="bottlenecktop-ticks", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self.stop_reason = self.stop_reason or reason
            if self.driver is not None:
                self.driver.command("stop")
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def now(self) -> float:
        """Session clock, seconds."""
        return time.monotonic() - self.t0

    def run(self) -> None:
        """The loop itself; returns when the ramp is done, on stop, or at max_time.

        An exception (a probe's bug, a listener writing to a closed pipe) ends the loop like a stop does: the
        driver and the probes are still stopped and the verdict still computed; ``failure`` says what went wrong.
        """
        try:
            try:
                self._loop()
            except Exception as exc:
                self._fail("the tick loop", exc)
            for step in (self._finish, self.on_finish):
                if step is None:
                    continue
                try:
                    step()
                except Exception as exc:
                    self._fail("stopping the run", exc)
        finally:
            if self.waits is not None:  # its thread must end with the run, however the run ended
                with contextlib.suppress(Exception):
                    self.waits.stop()
            if self.stacks is not None and self.failure is not None:
                with contextlib.suppress(Exception):  # _finish failed part-way: py-spy must not outlive us
                    self.stacks.stop()
            self._finished.set()

    def _fail(self, where: str, exc: Exception) -> None:
        first = str(exc).splitlines()[0] if str(exc) else ""
        self.failure = self.failure or f"{where} failed: {type(exc).__name__}: {first}"
        self.stop_reason = self.stop_reason or "failed"
        self._stop.set()

    def _loop(self) -> None:
        if self.stacks is not None:
            self.stacks.start()
        if self.waits is not None:
            self.waits.start()
        deadline = time.monotonic() + self.interval
        while True:
            if self._stop.wait(max(0.0, deadline - time.monotonic())):
                break
            frame = self._tick()
            self._append(frame)
            self._catch_up(frame.t)
            if self._should_end(frame):
                break
            deadline += self.interval
            now = time.monotonic()
            if deadline < now:  # a tick ran long: skip ahead rather than pile up
                deadline = now + self.interval

    # -- one tick ---------------------------------------------------------------------------------------------
    def _tick(self) -> Frame:
        t = self.now()
        events: list[Event] = []
        self._switch_target_if_asked(t, events)
        if self.remote is not None:
            self.remote.begin()  # the scrapes run while the local probes sample
        step = None
        outcome = None
        if self.driver is not None:
            outcome = self._collect(self.driver.poll())
            events += self._unsaid("driver", self.driver.take_events())
        load = self._loads.popleft() if self._loads else None
        if self._steps:
            step = self._steps.popleft()
        node = self.node.sample() if self.node is not None else None
        if self.node is not None and self.node.notices:
            events += self._unsaid("node", self.node.notices)
            self.node.notices.clear()
        target = self.target.sample() if self.target is not None else None
        if target is not None:
            self._watch_target(t, target, events)
        stacks = self._maybe_window(t, step is not None or outcome is not None)
        if stacks is not None:
            # a thread-per-request server makes new tids for ever: keep only the names of threads still seen
            seen = {th.tid for th in stacks.threads} | ({th.tid for th in target.threads} if target else set())
            self._thread_names = {tid: name for tid, name in self._thread_names.items() if tid in seen}
            self._thread_names.update((th.tid, th.name) for th in stacks.threads if th.name)
        if target is not None and self._thread_names:
            target = self._with_python_thread_names(target)
        if self.stacks is not None and self.stacks.error:
            events += self._unsaid("stacks", [self.stacks.error])
        remote = self.remote.collect() if self.remote is not None else []
        if self.remote is not None and self.remote.notices:
            # each outage is said once by the probe; the same text again is a new outage, so not _unsaid
            events += [Event(kind="remote", text=n) for n in self.remote.notices]
            self.remote.notices.clear()
        waits, peers, cgroup = self._kernel_samples(t, events)
        return Frame(
            t=round(t, 3),
            load=load,
            step=step,
            # the outcome ends the timeline: it waits for _finish while seconds or steps are still queued
            outcome=outcome if not (self._loads or self._steps) else None,
            node=node,
            target=target,
            driver=self.driver_proc.sample() if self.driver_proc is not None else None,
            self_proc=self.self_proc.sample() if self.self_proc is not None else None,
            stacks=stacks,
            waits=waits,
            peers=peers,
            cgroup=cgroup,
            peer_procs=self._peer_samples(peers, target),
            marks=[self._marks.popleft() for _ in range(len(self._marks))],
            events=events,
            remote=remote,
        )

    def _kernel_samples(self, t: float, events: list[Event]) -> tuple[WaitSample | None, PeersSample | None,
                                                                      CgroupSample | None]:
        """The wait aggregate, peers and cgroup of the target for this tick; a probe that fails says so once."""
        waits = peers = cgroup = None
        try:
            if self.waits is not None:
                waits = self.waits.take(round(t, 3))
            if self.peers is not None and not self._target_gone:
                peers = self.peers.sample()
            if self.cgroup is not None and not self._target_gone:
                cgroup = self.cgroup.sample()
        except Exception as exc:  # a probe's surprise must never end the run
            events += self._unsaid("other", [f"kernel probes failed: {type(exc).__name__}: {exc}"])
        return waits, peers, cgroup

    def _peer_samples(self, peers: PeersSample | None, target: ProcSample | None) -> list[ProcSample]:
        """The local processes behind the busiest downstream peers (at most MAX_PEER_PROCS), sampled like the
        target, so that the verdict can say what limits them. A probe is kept per pid across ticks (its rates
        need the previous sample)."""
        if self.peer_probe is None or peers is None:
            return []
        own = {target.pid} if target is not None else set()
        pids = list(dict.fromkeys(d.pid for d in peers.downstream if d.pid is not None and d.pid not in own))
        # peers come and go (pids are not reused soon): forget the probes of those no longer connected
        for gone in self._peer_probes.keys() - set(pids):
            del self._peer_probes[gone]
        out = []
        for pid in pids[:MAX_PEER_PROCS]:
            if pid not in self._peer_probes:
                try:
                    self._peer_probes[pid] = self.peer_probe(pid)
                except Exception:  # gone, or not ours to read: the verdict names the address alone
                    self._peer_probes[pid] = None
            probe = self._peer_probes[pid]
            if probe is not None:
                out.append(probe.sample())
        return out

    def _with_python_thread_names(self, sample: ProcSample) -> ProcSample:
        """The kernel knows Python threads only by the process name; py-spy knows what the program called them."""
        names = self._thread_names
        if not any(th.tid in names for th in sample.threads):
            return sample
        threads = [msgspec.structs.replace(th, name=names[th.tid]) if th.tid in names else th for th in sample.threads]
        return msgspec.structs.replace(sample, threads=threads)

    def _unsaid(self, kind: EventKind, texts: list[str]) -> list[Event]:
        """Events of the lines not said before (a notice repeats every tick until it is fixed); remembers them."""
        new = [t for t in dict.fromkeys(texts) if t and t not in self._said]
        self._said.update(new)
        return [Event(kind=kind, text=t) for t in new]

    def _maybe_window(self, t: float, step_ended: bool) -> StackWindow | None:
        """Close a stack window at each ramp step's end, else every stack_window_s seconds."""
        if self.stacks is None or self._target_gone:
            return None
        if not step_ended and t - self._last_window < self.stack_window_s:
            return None
        self._last_window = t
        return self.stacks.take_window(t)

    def _default_relisten(self) -> Callable[[], int | None] | None:
        target = self.session.header.target
        port = url_port(target.url) if target.local else None
        if port is None or self.attach_factory is None:
            return None
        return _Relisten(port)

    def _watch_target(self, t: float, target: ProcSample, events: list[Event]) -> None:
        """Say when the target stops (state T: SIGSTOP, a job-control stop), resumes, exits, or is replaced by a
        new process listening on its port, which the run then follows. Each is an event the analysis reads."""
        if target.alive and self.target is not None and self.target.state == "T":
            if self._stopped_at is None:
                self._stopped_at = t
                events.append(Event(kind="target-stopped",
                                    text=f"target pid {target.pid} stopped (state T) at {t:.0f} s"))
        elif self._stopped_at is not None:
            if target.alive:
                events.append(Event(kind="target-resumed", text=f"target pid {target.pid} resumed at {t:.0f} s "
                                                                 f"after {t - self._stopped_at:.0f} s stopped"))
            self._stopped_at = None
        if not target.alive and not self._target_gone:
            self._target_gone, self._gone_at = True, t
            events.append(Event(kind="target-exit", text=f"target pid {target.pid} exited at {t:.0f} s"))
        if self._target_gone and self.relisten is not None:
            self._follow_restart(t, target.pid, events)

    def _follow_restart(self, t: float, old_pid: int, events: list[Event]) -> None:
        """A new process listening on the port of a target that died is its restart: follow it from the next
        tick (the run goes on; the analysis knows from the event that the time around it is not comparable)."""
        assert self.relisten is not None
        try:
            pid = self.relisten()
        except Exception:  # a scan racing exiting processes: ask again next time
            pid = None
        if pid is None or pid == old_pid:
            return
        try:
            self._attach(pid, t, events)
        except Exception as exc:  # it died already, or is not ours to read
            events += self._unsaid("attach-failed", [f"cannot follow pid {pid} on the target's port: {exc}"])
            return
        port = url_port(self.session.header.target.url)
        where = f"port {port}" if port is not None else "the target's port"
        events.append(Event(kind="target-restarted",
                            text=f"pid {pid} listens on {where} at {t:.0f} s in place of pid {old_pid}, which "
                                 f"exited at {self._gone_at:.0f} s: the run follows it"))

    def _switch_target_if_asked(self, t: float, events: list[Event]) -> None:
        pid, self._attach_pid = self._attach_pid, None
        if pid is None or self.attach_factory is None:
            return
        try:
            self._attach(pid, t, events)
        except Exception as exc:  # the pid vanished between the list and the key press
            events.append(Event(kind="attach-failed", text=f"cannot attach to pid {pid}: {exc}"))
            return
        self.session.header.target.pid = pid
        events.append(Event(kind="attach", text=f"attached to pid {pid}"))

    def _attach(self, pid: int, t: float, events: list[Event]) -> None:
        """Make PID the target: its process, stack and kernel probes replace the old ones. Raises when its
        process probe cannot be made (nothing is changed then)."""
        assert self.attach_factory is not None
        target, stacks = self.attach_factory(pid)
        if self.stacks is not None:
            self.stacks.stop()
        self.target, self.stacks, self._target_gone, self._stopped_at = target, stacks, False, None
        if self.stacks is not None:
            self.stacks.start()
        if self.attach_kernel is not None:
            if self.waits is not None:
                self.waits.stop()
            try:
                self.waits, self.peers, self.cgroup = self.attach_kernel(pid)
            except Exception as exc:  # the pid may be gone already: the ProcessProbe says so too
                self.waits = self.peers = self.cgroup = None
                events.append(Event(kind="attach-failed", text=f"no kernel wait states for pid {pid}: {exc}"))
            if self.waits is not None:
                self.waits.start()
        self._last_window = t

    def _append(self, frame: Frame) -> None:
        self._outcome_recorded = self._outcome_recorded or frame.outcome is not None
        self.session.append(frame)
        if self.writer is not None:
            self.writer.append(frame)

    def _catch_up(self, t: float) -> None:
        """The driver's seconds come in bursts (a cluster's agent that caught up, a stalled pipe): the timeline
        must not lag the driver far, and no second may be lost, so the backlog goes into frames of its own."""
        lag = self.driver.timeline_lag_s if self.driver is not None else 0
        while len(self._loads) > lag:
            self._append(Frame(t=t, load=self._loads.popleft()))

    def _should_end(self, frame: Frame) -> bool:
        if self.outcome is not None:
            self.stop_reason = self.stop_reason or "done"
            return True
        if self.driver is not None and self.driver.done and self.outcome is None and not self._steps:
            self.stop_reason = self.stop_reason or "the load driver exited"
            return True
        if self.max_time is not None and frame.t >= self.max_time:
            self.stop_reason = self.stop_reason or "max-time"
            return True
        return False

    def _finish(self) -> None:
        """Collect what the driver still has (its outcome after a stop), put it on the timeline, stop probes."""
        if self.driver is not None:
            outcome_recorded = self._outcome_recorded
            if self.outcome is None:
                self.driver.command("stop")
                deadline = time.monotonic() + 3.0
                while self.outcome is None and not self.driver.done and time.monotonic() < deadline:
                    time.sleep(0.05)
                    self._collect(self.driver.poll())
                self._collect(self.driver.poll())
            while self._loads:  # seconds still queued when the ramp ended were measured: they are recorded
                self._append(Frame(t=round(self.now(), 3), load=self._loads.popleft()))
            while self._steps:  # steps that ended after the last tick still belong on the timeline
                step = self._steps.popleft()
                last = not self._steps and not outcome_recorded
                self._append(Frame(t=round(self.now(), 3), step=step, outcome=self.outcome if last else None))
                outcome_recorded = outcome_recorded or last
            if self.outcome is not None and not outcome_recorded:
                self._append(Frame(t=round(self.now(), 3), outcome=self.outcome))
            self.driver.stop()
        if self.stacks is not None:
            self.stacks.stop()
        if self.remote is not None:
            self.remote.close()

    def _collect(self, messages: list[LoadSecond | StepResult | RampOutcome]) -> RampOutcome | None:
        """Queue the driver's seconds and steps; return the ramp's outcome if it is among them."""
        outcome = None
        for msg in messages:
            if isinstance(msg, LoadSecond):
                self._loads.append(msg)
            elif isinstance(msg, StepResult):
                self._steps.append(msg)
            else:
                self.outcome = outcome = msg
        return outcome
