"""Observe mode's memory over time: a monitor left running on a box must stay flat.

Runs `bottlenecktop` observing this node, with recording on, on the screen (in tmux) and headless, side by
side, and samples each app process's RSS (psutil) every minute: the table gives RSS at 1 min and at the end,
and the growth rate between them in MB/hour. Start-up (imports, the first layout) is over by the first minute,
so the growth after it is what a long run keeps.

    .venv/bin/python benchmarks/observe_memory.py [--minutes 30] [--interval 1] [--modes screen,headless]

``--interval`` below 1 s ticks faster, so a leak per frame shows sooner (the rate is then per hour of that
interval). The recordings go to a temporary folder removed at the end (``--keep`` keeps them). With
PYTHONPATH set, the runs import bottlenecktop from there (a patched copy of the package, to measure a change).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 1e6
SOCKET = f"btop-mem-{os.getpid()}"  # a tmux server of our own: never touches a person's sessions


@dataclass
class Run:
    mode: str
    proc: psutil.Process
    recording: Path
    popen: subprocess.Popen[bytes] | None = None  # headless only
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, RSS bytes)


def _app_process(pane_pid: int, timeout: float = 15.0) -> psutil.Process:
    """The python process in a tmux pane: the pane's own process (exec) or its first python child."""
    deadline = time.monotonic() + timeout
    pane = psutil.Process(pane_pid)
    while time.monotonic() < deadline:
        for p in [pane, *pane.children(recursive=True)]:
            try:
                if "bottlenecktop" in " ".join(p.cmdline()):
                    return p
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise RuntimeError("no bottlenecktop process in the tmux pane")


def _env_prefix() -> str:
    """The environment the app must see: tmux's server does not pass ours on (PYTHONPATH picks a tree to run)."""
    keep = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    return "env " + " ".join(f"{k}={v}" for k, v in keep.items()) + " " if keep else ""


def start(mode: str, folder: Path, interval: float, seconds: float) -> Run:
    recording = folder / f"{mode}.btop"
    args = [sys.executable, "-m", "bottlenecktop", "--record", str(recording), "--interval", str(interval)]
    if mode == "headless":
        # --max-time is a backstop: the benchmark stops the run itself with SIGTERM (the clean close)
        popen = subprocess.Popen([*args, "--headless", "--max-time", f"{seconds + 120:.0f}"], cwd=folder,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return Run(mode, psutil.Process(popen.pid), recording, popen=popen)
    # run from the scratch folder: `-m` puts the working directory first on sys.path, and a checkout's folder
    # there would shadow a PYTHONPATH given to measure another tree
    cmd = f"cd {folder} && exec {_env_prefix()}{' '.join(args)}"
    subprocess.run(["tmux", "-L", SOCKET, "new-session", "-d", "-s", "mem", "-x", "160", "-y", "48", cmd],
                   check=True)
    pane_pid = int(subprocess.run(["tmux", "-L", SOCKET, "list-panes", "-t", "mem", "-F", "#{pane_pid}"],
                                  check=True, capture_output=True, text=True).stdout.split()[0])
    return Run(mode, _app_process(pane_pid), recording)


def stop(run: Run) -> None:
    with _quiet():
        run.proc.send_signal(signal.SIGTERM)  # the clean close: the verdict is written to the recording
        run.proc.wait(30)
    if run.popen is not None:
        with _quiet():
            run.popen.wait(5)
    else:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)


class _quiet:
    """Suppress the errors of a process that is already gone."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, psutil.Error | subprocess.TimeoutExpired | OSError)


def rss_at(run: Run, t: float) -> int | None:
    """The RSS of the sample nearest ``t`` seconds."""
    if not run.samples:
        return None
    return min(run.samples, key=lambda s: abs(s[0] - t))[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long each run lasts (default 30)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds per sample of the app (default 1)")
    parser.add_argument("--modes", default="screen,headless", help="screen, headless or both (default)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between RSS samples (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the recordings (their folder is printed)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "screen" in modes and shutil.which("tmux") is None:
        print("tmux is needed for the screen mode", file=sys.stderr)
        return 2
    seconds = args.minutes * 60
    folder = Path(tempfile.mkdtemp(prefix="btop-mem-"))
    runs: list[Run] = []
    t0 = time.monotonic()
    try:
        runs = [start(m, folder, args.interval, seconds) for m in modes]
        next_t = min(60.0, seconds)
        while True:
            now = time.monotonic() - t0
            for run in runs:
                with _quiet():
                    if run.proc.is_running():
                        run.samples.append((now, run.proc.memory_info().rss))
            line = "  ".join(f"{r.mode} {r.samples[-1][1] / MB:.1f} MB" for r in runs if r.samples)
            print(f"[{now / 60:5.1f} min] {line}", file=sys.stderr, flush=True)
            if now >= seconds - 1:
                break
            time.sleep(max(0.0, next_t - (time.monotonic() - t0)))
            next_t = min(next_t + args.every, seconds)
    finally:
        for run in runs:
            stop(run)
        sizes = {r.mode: r.recording.stat().st_size if r.recording.exists() else 0 for r in runs}
        if args.keep:
            print(f"recordings kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"observe mode memory, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {platform.node()}: "
          f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB, Python "
          f"{platform.python_version()}, interval {args.interval:g} s, {args.minutes:g} min, recording on"
          + (f", PYTHONPATH={os.environ['PYTHONPATH']}" if os.environ.get("PYTHONPATH") else ""))
    # the 2nd half's rate: a bounded window fills in its first minutes, a leak keeps its pace to the end
    print(f"{'mode':<10} {'RSS 1 min':>10} {'RSS end':>10} {'at (min)':>9} {'growth':>12} {'2nd half':>12} "
          f"{'recording':>10}")
    for run in runs:
        first, last = rss_at(run, 60.0), run.samples[-1] if run.samples else None
        if first is None or last is None or last[0] <= 60.0:
            print(f"{run.mode:<10} {'-':>10}")
            continue
        rate = (last[1] - first) / MB / ((last[0] - 60.0) / 3600)
        mid_t, mid = min(run.samples, key=lambda s: abs(s[0] - last[0] / 2))
        late = (last[1] - mid) / MB / ((last[0] - mid_t) / 3600) if last[0] > mid_t else 0.0
        print(f"{run.mode:<10} {first / MB:>7.1f} MB {last[1] / MB:>7.1f} MB {last[0] / 60:>9.1f} "
              f"{rate:>+7.1f} MB/h {late:>+7.1f} MB/h {sizes[run.mode] / MB:>7.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
