"""The screen's CPU cost at 1 Hz: runs the app in tmux and measures that process's CPU.

Budget (DESIGN.md): the whole TUI under 5 % of one core while observing at 1 Hz. Modes:
- ``real``: `bottlenecktop` itself observing this node (probes included), the app's process and its children;
- ``ramp``: the real app during a real ramp (`bottlenecktop demo --bottleneck lock`, every panel drawn): the
  app's own process only (the screen, the tick loop, the probes, the analysis), not the load driver, the demo
  server or py-spy, which are child processes with their own figures in the other benchmarks;
- ``observe``, ``live``: the screen alone over a synthetic session fed one frame a second from a thread (the
  runner's tick loop in miniature): the analysis' live_status per tick and the feeding thread, but no probes.

    .venv/bin/python benchmarks/tui_idle_cost.py [--seconds 40] [--modes ramp] [--sizes 160x48]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def tree_cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def own_cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds by thread name (the tick loop, the wait sampler, the screen's main thread...) of PID."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        key = "main" if tid == str(pid) else name
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def measure(mode: str, size: tuple[int, int], seconds: float, warmup: float) -> tuple[float, float]:
    """(CPU % of one core, RSS MiB) of the app over ``seconds`` after ``warmup`` seconds."""
    name = f"btv-tui-cost-{os.getpid()}-{mode}-{size[0]}"
    if mode == "real":  # the whole app: bottlenecktop observing this node, probes included
        cmd = f"cd {ROOT} && exec {sys.executable} -m bottlenecktop --no-record"
    elif mode == "ramp":  # a real ramp, long enough to outlast the measurement
        cmd = (f"cd {ROOT} && exec {sys.executable} -m bottlenecktop demo --bottleneck lock --no-record "
               f"--step-seconds 5 --max-time {warmup + seconds + 30:.0f}")
    else:
        cmd = f"cd {ROOT} && exec {sys.executable} -m bottlenecktop.tui --mode {mode} --seconds 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), cmd],
                   check=True)
    try:
        pane_pid = int(subprocess.run(["tmux", "list-panes", "-t", name, "-F", "#{pane_pid}"], check=True,
                                      capture_output=True, text=True).stdout.split()[0])
        proc = psutil.Process(pane_pid)
        time.sleep(warmup)  # start-up (imports, first layout) is not the steady cost
        if not proc.is_running():
            raise RuntimeError(f"the app exited during warm-up: {mode}")
        cpu = own_cpu_seconds if mode == "ramp" else tree_cpu_seconds
        c0, t0, th0 = cpu(proc), time.monotonic(), thread_cpu_seconds(pane_pid)
        time.sleep(seconds)
        if not proc.is_running():
            raise RuntimeError(f"the app exited while measured: {mode}")
        c1, t1, th1 = cpu(proc), time.monotonic(), thread_cpu_seconds(pane_pid)
        rss = proc.memory_info().rss / 2**20
        if mode == "ramp":  # where the app's time goes: its own code (user) or the kernel (terminal writes, /proc)
            times = proc.cpu_times()
            print(f"  ramp {size[0]}x{size[1]}: user {times.user:.1f} s, system {times.system:.1f} s since start",
                  flush=True)
            by_thread = sorted(((th1[k] - th0.get(k, 0.0)) / (t1 - t0) * 100, k) for k in th1)
            print("  by thread (% of one core): " + ", ".join(f"{k} {v:.2f}" for v, k in reversed(by_thread)
                                                             if v >= 0.05), flush=True)
        return (c1 - c0) / (t1 - t0) * 100, rss
    finally:
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=False)
        time.sleep(1)
        subprocess.run(["tmux", "kill-session", "-t", name], check=False, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="measuring time per case (s)")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds before measuring")
    parser.add_argument("--modes", nargs="+", default=["real", "ramp", "observe", "live"],
                        choices=["real", "ramp", "observe", "live"],
                        help="real: `bottlenecktop` observing this node (probes included); ramp: the app's own "
                        "process during a real ramp of the lock demo; observe, live: the screen alone over a "
                        "synthetic session")
    parser.add_argument("--sizes", nargs="+", default=["80x24", "160x48"])
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed; this benchmark runs the app in tmux", file=sys.stderr)
        return 2
    print(f"{'mode':<8} {'size':>7} {'seconds':>8} {'cpu % of one core':>18} {'rss MiB':>8}  budget 5 %")
    worst = 0.0
    for mode in args.modes:
        for size_text in args.sizes:
            w, h = (int(v) for v in size_text.split("x"))
            cpu, rss = measure(mode, (w, h), args.seconds, args.warmup)
            worst = max(worst, cpu)
            print(f"{mode:<8} {size_text:>7} {args.seconds:>8.0f} {cpu:>18.2f} {rss:>8.1f}  "
                  f"{'ok' if cpu < 5 else 'OVER'}", flush=True)
    return 0 if worst < 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
