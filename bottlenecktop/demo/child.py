"""The demo server process: listen, fork the extra workers (cpu kind), say "ready" on stdout, serve.

The ready line is one JSON object: port, pids (this process first), baseline_fds, workdir.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import psutil

from bottlenecktop.demo import lifeline
from bottlenecktop.demo.downstream import downstream_work
from bottlenecktop.demo.server import DemoHTTPServer, Work, listening_socket
from bottlenecktop.demo.work import cpu_work, disk_work, fds_work, gil_work, lock_work


def _disk_base(requested: str) -> str:
    """Where the disk kind makes its temp dir: as asked, else the temp dir unless it is in RAM (tmpfs)."""
    if requested:
        return requested
    base = tempfile.gettempdir()
    mounts = [p for p in psutil.disk_partitions(all=True) if base.startswith(p.mountpoint)]
    if mounts and max(mounts, key=lambda p: len(p.mountpoint)).fstype == "tmpfs":
        import platformdirs

        base = platformdirs.user_cache_dir("bottlenecktop")
        os.makedirs(base, exist_ok=True)
    return base


def _work_for(kind: str, options: dict[str, str], downstream_url: str | None, workdir: str | None) -> Work:
    if kind == "cpu":
        return cpu_work(float(options["work_ms"]))
    if kind == "gil":
        return gil_work(int(options["workers"]), float(options["work_ms"]))
    if kind == "lock":
        return lock_work(int(options["workers"]), float(options["work_ms"]))
    if kind == "downstream":
        if not downstream_url:
            raise ValueError("the downstream kind needs --downstream URL")
        return downstream_work(downstream_url)
    if kind == "disk":
        assert workdir is not None
        return disk_work(workdir, int(options["size_bytes"]))
    if kind == "fds":
        return fds_work()
    raise ValueError(f"unknown demo kind {kind!r}")


def _fork_workers(socks: list[socket.socket]) -> tuple[socket.socket, list[int]]:
    """Fork one process per extra socket; return the socket this process serves and the children's pids."""
    master = os.getpid()
    children: list[int] = []
    for i, sock in enumerate(socks[1:], start=1):
        pid = os.fork()
        if pid == 0:
            lifeline.forget_cleanups()
            lifeline.die_with_parent(master)
            for j, other in enumerate(socks):
                if j != i:
                    other.close()
            return sock, []
        children.append(pid)
    for sock in socks[1:]:
        sock.close()
    return socks[0], children


def _reap(children: list[int], grace: float = 1.0) -> None:
    """SIGTERM the forked workers and wait for them (bounded), SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while children and time.monotonic() < deadline:
            for pid in list(children):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    children.remove(pid)
            time.sleep(0.01)


def run_child(kind: str, options: dict[str, str], parent_pid: int | None, downstream_url: str | None = None) -> None:
    """Serve ``kind`` until the parent goes away (or SIGTERM); never returns."""
    lifeline.die_with_parent(parent_pid)
    threading.stack_size(512 * 1024)  # hundreds of idle keep-alive threads: keep their memory small
    workers = int(options["workers"]) if kind == "cpu" else 1
    # One socket per worker process with SO_REUSEPORT: the kernel spreads connections across them.
    socks = [listening_socket(0, reuse_port=workers > 1)]
    port = socks[0].getsockname()[1]
    socks += [listening_socket(port, reuse_port=True) for _ in range(workers - 1)]
    sock, children = _fork_workers(socks)
    is_master = bool(children) or workers == 1
    if children:
        lifeline.on_exit(lambda: _reap(children))

    workdir: str | None = None
    if kind == "disk":
        workdir = tempfile.mkdtemp(prefix="bottlenecktop-demo-", dir=_disk_base(options["dir"]))
        lifeline.on_exit(lambda: shutil.rmtree(workdir, ignore_errors=True))
    if kind == "fds":
        limit = int(options["limit"])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit if hard < 0 else min(limit, hard), hard))

    server = DemoHTTPServer(sock, _work_for(kind, options, downstream_url, workdir))
    if parent_pid is not None:
        lifeline.watch_stdin()
    if is_master:
        ready = {
            "port": port,
            "pids": [os.getpid(), *children],
            "baseline_fds": len(os.listdir("/proc/self/fd")) - 1,  # listdir's own fd is not ours
            "workdir": workdir,
        }
        os.write(1, (json.dumps(ready) + "\n").encode())
        # Nothing more goes to the parent's pipe: a stray print must not block on a full pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    try:
        server.serve_forever(poll_interval=0.5)
    except BaseException as exc:
        print(f"demo server stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
    lifeline.exit_now(1)
