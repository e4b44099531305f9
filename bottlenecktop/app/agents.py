"""The live run's driver when the ramp comes from several load agents (--agents N, --cluster ADDRESS)."""

from __future__ import annotations

import sys
from typing import Any

from bottlenecktop.config import RunConfig
from bottlenecktop.errors import BadInput, RunFailed


def wants_agents(config: RunConfig) -> bool:
    return config.agents is not None or config.cluster is not None


def start_cluster_driver(config: RunConfig, driver_config: Any) -> Any:
    """A started ClusterDriver; its agents and their clock offsets said on stderr. BadInput / RunFailed with one
    line when it cannot start."""
    from bottlenecktop.probes.load.cluster.driver import ClusterDriver, ClusterFailed

    try:
        driver = ClusterDriver(driver_config, agents=config.agents, address=config.cluster)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    try:
        lines = driver.start()
    except ClusterFailed as exc:
        raise RunFailed(str(exc)) from None
    for line in lines:
        print(f"bottlenecktop: {line}", file=sys.stderr)
    return driver
