"""A second "host" on this machine: a network namespace the test makes itself, joined to this one by a veth pair
on a private /30 (10.213.X.1 here, 10.213.X.2 there). Traffic crosses only addresses the test created; the
namespace and its link are removed at the end."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class NamespaceHost:
    name: str  # the namespace, for `ip netns exec NAME`
    here: str  # this side's address (the root namespace)
    there: str  # the namespace's address

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


def unavailable() -> str | None:
    """Why a namespace cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "no ip(8) (iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"ip netns does not work here: {probe.stderr.strip()}"
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")


@contextlib.contextmanager
def namespace_host() -> Iterator[NamespaceHost]:
    tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
    name, here_if, there_if = f"bt-host-{tag}", f"btv{tag}a", f"btv{tag}b"
    subnet = random.randrange(1, 63) * 4  # a /30 inside 10.213.X.0/24
    x = random.randrange(0, 255)
    here, there = f"10.213.{x}.{subnet + 1}", f"10.213.{x}.{subnet + 2}"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", here_if, "type", "veth", "peer", "name", there_if)
        _ip("link", "set", there_if, "netns", name)
        _ip("addr", "add", f"{here}/30", "dev", here_if)
        _ip("link", "set", here_if, "up")
        _ip("addr", "add", f"{there}/30", "dev", there_if, ns=name)
        _ip("link", "set", there_if, "up", ns=name)
        _ip("link", "set", "lo", "up", ns=name)
        yield NamespaceHost(name=name, here=here, there=there)
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _ip("link", "del", here_if)  # also removes its peer inside the namespace
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _ip("netns", "del", name)
