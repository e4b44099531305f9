"""What PR_SET_PDEATHSIG costs per py-spy spawn: a preexec_fn makes subprocess fork() instead of vfork(), which
copies the page tables of a large parent; ``setpriv --pdeathsig`` (what the probes use) keeps the vfork.
The stack probe spawns one `py-spy dump` a second and one `py-spy record`
per window, so the cost per spawn times about 1.2 spawns a second is the overhead.

    python benchmarks/child_spawn_cost.py [--spawns 200] [--ballast-mb 200]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time

from bottlenecktop.probes.parent_death import die_with_parent, dying_with_parent
from bottlenecktop.probes.stacks import py_spy_binary


def cost(binary: str, spawns: int, how: str) -> tuple[float, float]:
    """(wall ms per spawn, parent CPU ms per spawn) for ``spawns`` runs of ``py-spy --version``."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in range(spawns):
        cmd, preexec = [binary, "--version"], None
        if how == "preexec":
            preexec = die_with_parent()
        elif how == "setpriv":
            cmd, preexec = dying_with_parent(cmd)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, preexec_fn=preexec)
    wall = (time.perf_counter() - start) / spawns * 1000
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / spawns * 1000
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=200)
    parser.add_argument("--ballast-mb", type=int, default=200, help="parent memory, like a long live run's")
    args = parser.parse_args()
    binary = py_spy_binary()
    assert binary, "py-spy is not installed"
    ballast = bytearray(args.ballast_mb << 20)
    for i in range(0, len(ballast), 4096):  # touch every page so fork has page tables to copy
        ballast[i] = 1
    print(f"{'spawn':<26} {'wall ms':>8} {'parent CPU ms':>14}")
    names = {"none": "vfork, no PDEATHSIG", "preexec": "fork + preexec PDEATHSIG",
             "setpriv": "vfork + setpriv PDEATHSIG"}
    for how in ("none", "preexec", "setpriv", "none", "preexec", "setpriv"):
        wall, cpu = cost(binary, args.spawns, how)
        print(f"{names[how]:<26} {wall:8.2f} {cpu:14.2f}")


if __name__ == "__main__":
    main()
