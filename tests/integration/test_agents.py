"""Several load agents through real Dask on this machine (loopback only): a LocalCluster of two agents against
nginx and against a target with a capacity by construction, a lost agent, and a running scheduler (--cluster)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.samples import LoadSecond, RampOutcome, StepResult
from tests.support.nginx_ok import nginx_ok as nginx
from tests.support.nginx_ok import wait_listen
from tests.support.servers import CapacityServer, free_port

pytest.importorskip("distributed")

from bottlenecktop.probes.load.cluster.driver import ClusterDriver


@dataclass
class Run:
    seconds: list[LoadSecond] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    outcome: RampOutcome | None = None


def run_cluster(driver: ClusterDriver, limit: float, during: object = None) -> Run:
    """Start the driver, collect until its outcome (at most ``limit`` seconds); ``during(driver, run)`` runs
    after each poll."""
    run = Run()
    run.events += driver.start()
    deadline = time.monotonic() + limit
    try:
        while not driver.done and time.monotonic() < deadline:
            for message in driver.poll():
                if isinstance(message, LoadSecond):
                    run.seconds.append(message)
                elif isinstance(message, StepResult):
                    run.steps.append(message)
                else:
                    run.outcome = message
            run.events += driver.take_events()
            if callable(during):
                during(driver, run)
            time.sleep(0.1)
    finally:
        driver.stop()
    run.events += driver.take_events()
    return run


def fixed_rate(url: str, rate: float, seconds: float) -> DriverConfig:
    """A ramp that starts at its cap: one step at ``rate`` and its confirmation."""
    return DriverConfig(url=url, start_rps=rate, max_rps=rate, step_seconds=seconds, confirm_seconds=seconds,
                        t0=time.monotonic())


@pytest.mark.slow
def test_two_agents_against_nginx_merge_to_the_schedule() -> None:
    rate = 2000.0
    with nginx() as url:
        run = run_cluster(ClusterDriver(fixed_rate(url, rate, 4.0), agents=2), limit=60)
    assert run.outcome is not None, run.events
    print(run.events, run.outcome)
    assert run.outcome.confirmed and run.outcome.reason == "max-rps"
    assert [a.agent for a in run.outcome.agents] == [0, 1]
    # Every merged second is exactly its agents' sum; both agents took part in every loaded second.
    loaded = [s for s in run.seconds if s.target_rps > 0]
    assert len(loaded) >= 6
    for s in run.seconds:
        assert s.sent == sum(a.sent for a in s.agents)
        assert s.ok == sum(a.ok for a in s.agents)
    for s in loaded:
        assert len(s.agents) == 2
        # Agent i takes the arrivals i mod 2: halves within a second (each agent closes its seconds by its own
        # clock, so a request near the edge may land in the next one) ...
        assert abs(s.agents[0].sent - s.agents[1].sent) <= 0.01 * s.sent + 2, s.agents
    # ... and to a request over the run.
    assert abs(run.outcome.agents[0].sent - run.outcome.agents[1].sent) <= 2, run.outcome.agents
    # The judged steps offered the schedule within 1 %, and nginx answered it.
    assert len(run.steps) == 2
    for step in run.steps:
        assert abs(step.offered_rps - rate) <= 0.01 * rate, step
        assert abs(step.achieved_rps - rate) <= 0.01 * rate, step
    total = sum(s.ok for s in run.seconds)
    assert total == sum(a.ok for a in run.outcome.agents)


def _magic(agents: int) -> tuple[float, str]:
    """The magic number and the steps that found it (for the failure message)."""
    with CapacityServer(slots=4, work_ms=20.0) as server:
        # 5-s holds: a 100 ms stall of a busy machine costs 2 % of a hold's requests, not the 3 % of a 3-s one
        # (a CI run saw holds at 197 and 187 req/s both fail and ended at 178)
        config = DriverConfig(url=server.url, start_rps=100, step_seconds=2.0, confirm_seconds=5.0,
                              t0=time.monotonic())
        run = run_cluster(ClusterDriver(config, agents=agents), limit=80)
        served = server.requests
    steps = "; ".join(f"{s.phase} {s.offered_rps:.1f} -> {s.achieved_rps:.1f} p99 {s.p99_ms:.0f} ms "
                      f"{'ok' if s.sustained else s.reason} late {s.late}" for s in run.steps)
    assert run.outcome is not None, (run.events, steps)
    assert run.outcome.confirmed and not run.outcome.driver_limited, (run.outcome, steps)
    assert run.outcome.max_sustainable_rps is not None
    # Nothing is lost on the way: the target answered what the agents counted, which the merge counted.
    merged = sum(s.completed for s in run.seconds)
    assert merged == sum(a.ok for a in run.outcome.agents)
    assert abs(served - merged) <= 2, (served, merged)
    return run.outcome.max_sustainable_rps, steps


@pytest.mark.slow
def test_two_agents_find_the_magic_number_by_construction() -> None:
    # Agreement with the one built-in driver, through the CLI: tests/e2e/test_agents_cli.py.
    two, steps = _magic(2)
    print(f"magic number: two agents {two:.1f} req/s")
    assert 180.0 <= two <= 220.0, steps


@pytest.mark.slow
def test_a_killed_agent_reruns_its_step_with_the_other() -> None:
    rate = 600.0
    killed: list[int] = []

    def kill_mid_step(driver: ClusterDriver, run: Run) -> None:
        if not killed and len([s for s in run.seconds if s.target_rps > 0]) >= 2:
            victim = driver.agents[1]
            killed.append(victim.worker_pid)
            os.kill(victim.worker_pid, signal.SIGKILL)

    with nginx() as url:
        run = run_cluster(ClusterDriver(fixed_rate(url, rate, 4.0), agents=2), limit=70, during=kill_mid_step)
    print(run.events)
    assert killed
    assert run.outcome is not None
    assert any("load agent 1" in e and "lost" in e for e in run.events), run.events
    assert any("rerun with 1 of 2 agents" in e for e in run.events), run.events
    # The step that was running is judged again with the agent left; the ramp still ends with its number.
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == rate, run.outcome
    assert [a.lost for a in run.outcome.agents] == [False, True]
    last = [s for s in run.seconds if s.target_rps > 0][-1]
    assert [a.agent for a in last.agents] == [0] and abs(last.sent - rate) <= 0.02 * rate
    # What both agents measured before the loss stayed on the timeline.
    assert any(len(s.agents) == 2 and s.sent > 0 for s in run.seconds)


@contextlib.contextmanager
def scheduler_and_worker() -> Iterator[str]:
    """``dask scheduler`` and one ``dask worker --resources LOADGEN=1`` on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_listen("127.0.0.1", port, procs[0], "dask scheduler")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--resources", "LOADGEN=1",
             "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_cluster_uses_the_loadgen_workers_of_a_running_scheduler() -> None:
    from distributed import Client

    with scheduler_and_worker() as address, CapacityServer(slots=4, work_ms=20.0) as server:
        with Client(address, timeout=20) as client:
            client.wait_for_workers(1, timeout=30)
        config = fixed_rate(server.url, 150.0, 3.0)
        run = run_cluster(ClusterDriver(config, address=address), limit=60)
    assert run.outcome is not None, run.events
    assert any("clock offset" in e for e in run.events)
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == 150.0, run.outcome
    assert len(run.outcome.agents) == 1 and run.outcome.agents[0].ok > 0


def test_cluster_without_loadgen_workers_is_one_line() -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        ClusterDriver(DriverConfig(url="http://127.0.0.1:1/"), address="127.0.0.1:8786")
    with pytest.raises(ValueError, match="closed-model"):
        ClusterDriver(DriverConfig(url="http://127.0.0.1:1/", closed_model=True), agents=2)
