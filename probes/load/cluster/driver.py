"""``ClusterDriver``: the load driver's surface (poll, command, done, stop, take_events, like load.driver's
LoadDriver) over several load agents through Dask distributed.

``agents=N`` alone starts a LocalCluster of N single-threaded worker processes bound to 127.0.0.1 (no
dashboard); ``address="tcp://HOST:8786"`` uses a running scheduler and one agent per worker that has the
``LOADGEN`` resource (at most N of them when N is given). The scheduler runs pickled code from its clients:
it must never listen on an untrusted network without TLS (Dask's ``distributed.comm.tls`` settings).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from bottlenecktop.probes.load.cluster.controller import RampController
from bottlenecktop.probes.load.cluster.merge import AgentInfo
from bottlenecktop.probes.load.cluster.messages import Segment
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.reports import DriverReports
from bottlenecktop.probes.load.target import BadTarget, build_target

MAX_OFFSET_S = 0.05  # a clock offset above this would misalign the agents' seconds: refuse to start
CLOCK_SAMPLES = 5
CALL_TIMEOUT_S = 5.0  # an actor call that takes longer means the agent is lost
START_TIMEOUT_S = 60.0  # starting a local cluster and its actors
RESOURCE = "LOADGEN"


class ClusterFailed(RuntimeError):
    """The agents could not start; the message is one line for a person."""


class DaskAgent:
    """One actor as the controller sees it (cluster.controller.AgentHandle)."""

    def __init__(self, actor: Any, info: AgentInfo, offset: float, rtt: float, worker_pid: int) -> None:
        self.actor = actor
        self.info = info
        self.offset = offset
        self.rtt = rtt
        self.worker_pid = worker_pid

    def wall_offset(self) -> float:
        return self.offset

    def segment(self, segment: Segment) -> None:
        import msgspec

        self.actor.segment(msgspec.to_builtins(segment)).result(timeout=CALL_TIMEOUT_S)

    def drain(self, timeout: float, at_wall: float) -> bool:
        wait = timeout + max(0.0, at_wall - self.offset - time.time())
        return bool(self.actor.drain(timeout, at_wall).result(timeout=wait + CALL_TIMEOUT_S))

    def take(self) -> tuple[list[bytes], list[str], bool]:
        seconds, events, exited = self.actor.take().result(timeout=CALL_TIMEOUT_S)
        return list(seconds), list(events), bool(exited)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.actor.stop().result(timeout=CALL_TIMEOUT_S)


def measure_offset(actor: Any) -> tuple[float, float]:
    """(offset, round trip) in seconds: the agent's wall clock minus ours, from the fastest of a few calls."""
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_SAMPLES):
        before = time.time()
        theirs = float(actor.clock().result(timeout=CALL_TIMEOUT_S))
        after = time.time()
        sample = (theirs - (before + after) / 2.0, after - before)
        if best is None or sample[1] < best[1]:
            best = sample
    assert best is not None
    return best


class ClusterDriver(DriverReports):
    """One ramp over several load agents. Not thread-safe except that ``poll`` may run beside ``command``."""

    # A second is merged once every agent has sent it (a slow agent: up to LOST_AFTER_S late), then the held
    # seconds come at once: queue them rather than give each of them a frame of its own.
    timeline_lag_s = 6

    def __init__(self, config: DriverConfig, *, agents: int | None = None, address: str | None = None) -> None:
        """Check the options; raise ValueError with one line for a person when they cannot work."""
        super().__init__()
        problem = config.problem()
        if problem is None and config.closed_model:
            problem = "--closed-model runs in one driver process: it does not combine with --agents or --cluster"
        if problem is None and agents is not None and agents < 1:
            problem = "--agents needs at least 1 agent"
        if problem is None and agents is None and address is None:
            problem = "several load agents need --agents N or --cluster ADDRESS"
        if problem is None and address is not None and not address.startswith(("tcp://", "tls://")):
            problem = f"--cluster {address}: give the scheduler as tcp://HOST:PORT or tls://HOST:PORT"
        if problem is None:
            try:
                build_target(config.url, config.method, config.headers, config.body)
            except BadTarget as exc:
                problem = str(exc)
        if problem is not None:
            raise ValueError(problem)
        self.config = config
        self.wanted = agents
        self.address = address
        self.agents: list[DaskAgent] = []
        self.pid: int | None = None  # no driver process of our own
        self._cluster: Any = None
        self._client: Any = None
        self._controller: RampController | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # --- start

    def start(self) -> list[str]:
        """Start or reach the agents, measure their clocks and start the ramp; one line per agent for a person.
        Raises ClusterFailed with one line when that cannot be done (everything started is stopped again)."""
        try:
            lines = self._start_agents()
        except ClusterFailed:
            self._shutdown()
            raise
        except Exception as exc:
            self._shutdown()
            raise ClusterFailed(f"the load agents did not start: {type(exc).__name__}: {exc}") from None
        self._controller = RampController(self.config, list(self.agents), self._inbox.put, self._events.put)
        self._thread = threading.Thread(target=self._controller.run, name="load-cluster-ramp", daemon=True)
        self._thread.start()
        return lines

    def _start_agents(self) -> list[str]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ClusterFailed("--agents and --cluster need Dask: pip install 'bottlenecktop[cluster]'") from None
        from distributed.comm import get_address_host

        from bottlenecktop.probes.load.cluster.agent import LoadAgent

        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.address is None:
            assert self.wanted is not None
            self._cluster = LocalCluster(n_workers=self.wanted, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None, scheduler_port=0,
                                         silence_logs=logging.ERROR)
            self._client = Client(self._cluster, timeout=START_TIMEOUT_S)
            workers = sorted(self._client.scheduler_info()["workers"])
        else:
            try:
                self._client = Client(self.address, timeout=10)
            except OSError as exc:
                raise ClusterFailed(f"--cluster {self.address}: cannot reach the scheduler ({exc})") from None
            info = self._client.scheduler_info()["workers"]
            workers = sorted(addr for addr, w in info.items() if w.get("resources", {}).get(RESOURCE, 0) >= 1)
            if not workers:
                raise ClusterFailed(f"--cluster {self.address}: no worker has the {RESOURCE} resource (start them "
                                    f"with: dask worker {self.address} --resources {RESOURCE}=1 --nthreads 1)")
            if self.wanted is not None:
                if len(workers) < self.wanted:
                    raise ClusterFailed(f"--cluster {self.address}: {len(workers)} {RESOURCE} worker(s), "
                                        f"--agents asks for {self.wanted}")
                workers = workers[: self.wanted]
        count = len(workers)
        lines = []
        for index, addr in enumerate(workers):
            actor = self._client.submit(LoadAgent, actor=True, workers=[addr], allow_other_workers=False,
                                        pure=False).result(timeout=START_TIMEOUT_S)
            offset, rtt = measure_offset(actor)
            started = actor.start(self.config, index, count).result(timeout=START_TIMEOUT_S)
            # The host name and the worker's address: hosts cloned from one image often share a name.
            host = f"{started['host']} ({get_address_host(addr)})"
            agent = DaskAgent(actor, AgentInfo(index, host, int(started["pid"])), offset, rtt,
                              int(started["worker_pid"]))
            self.agents.append(agent)
            lines.append(f"load agent {index} on {agent.info.host} (driver pid {agent.info.pid}, worker {addr}): "
                         f"clock offset {offset * 1000:+.1f} ms, round trip {rtt * 1000:.1f} ms")
        for agent in self.agents:
            if abs(agent.offset) > MAX_OFFSET_S:
                raise ClusterFailed(f"load agent {agent.info.agent} on {agent.info.host}: its clock is "
                                    f"{agent.offset * 1000:+.0f} ms off this host's (limit {MAX_OFFSET_S * 1000:.0f} "
                                    "ms): synchronise the clocks (NTP, chrony) first")
        return lines

    # --- the driver's surface



    def command(self, name: str, value: float | str | None = None) -> None:
        """pause | resume | hold | raise | lower (value: factor) | stop."""
        if self._controller is not None:
            self._controller.command(name, value)


    def stop(self, timeout: float = 5.0) -> None:
        """Stop the ramp, the agents and the cluster this driver started (its outcome stays available); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._controller is not None:
            self._controller.command("stop", None)
        if self._thread is not None:
            self._thread.join(timeout + 5.0)
        self._shutdown()

    def _shutdown(self) -> None:
        lost = self._controller.lost if self._controller is not None else {}
        for agent in self.agents:
            if agent.info.agent not in lost:  # a lost agent's call would only wait for its timeout
                agent.stop()
        with contextlib.suppress(Exception):
            if self._client is not None:
                self._client.close(timeout=5)
        with contextlib.suppress(Exception):
            if self._cluster is not None:
                self._cluster.close(timeout=10)
