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
from bottlenecktop.demo.work import cpu_work, disk_work, fds_work, gil_work, leak_work, lock_work


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
    if kind == "quota":
        return cpu_work(float(options["work_ms"]))
    if kind == "leak":
        return leak_work(int(options["kib"]), int(options["cap_mib"]))
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


def _say_ready(port: int, pids: list[int], workdir: str | None, cgroup: str | None = None) -> None:
    """The one line the launcher waits for; then stdout goes to /dev/null."""
    ready = {
        "port": port,
        "pids": pids,  # the process that serves the port first
        "baseline_fds": len(os.listdir("/proc/self/fd")) - 1,  # listdir's own fd is not ours
        "workdir": workdir,
        "cgroup": cgroup,  # the quota kind's cgroup directory, for the launcher to remove after us
    }
    os.write(1, (json.dumps(ready) + "\n").encode())
    # Nothing more goes to the parent's pipe: a stray print must not block on a full pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _run_async(options: dict[str, str], parent_pid: int | None, downstream_url: str | None) -> None:
    """The async-downstream kind: one event loop, no thread per connection."""
    import asyncio

    from bottlenecktop.demo.async_server import serve

    if not downstream_url:
        raise ValueError("the async-downstream kind needs --downstream URL")
    sock = listening_socket(0)
    sock.setblocking(False)

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.ensure_future(serve(sock, downstream_url, int(options["concurrency"]), ready))
        await asyncio.wait([task, asyncio.ensure_future(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped it
        if parent_pid is not None:
            lifeline.watch_stdin()
        _say_ready(sock.getsockname()[1], [os.getpid()], None)
        await task

    try:
        asyncio.run(main())
    except BaseException as exc:
        print(f"demo server stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
    lifeline.exit_now(1)


def _run_proxy(parent_pid: int | None, downstream_url: str | None) -> None:
    """The proxy kind: this process starts nginx in front of the slow service, says ready, and waits."""
    from urllib.parse import urlsplit

    from bottlenecktop.demo.proxy import Nginx

    if not downstream_url:
        raise ValueError("the proxy kind needs --downstream URL")
    workdir = tempfile.mkdtemp(prefix="bottlenecktop-demo-nginx-")
    lifeline.on_exit(lambda: shutil.rmtree(workdir, ignore_errors=True))
    nginx = Nginx(workdir, urlsplit(downstream_url).netloc)
    lifeline.on_exit(nginx.stop)  # runs before the rmtree: last added, first run
    nginx.wait_listening(8.0)
    if parent_pid is not None:
        lifeline.watch_stdin()
    _say_ready(nginx.port, [*nginx.pids(), os.getpid()], workdir)
    code = nginx.proc.wait()
    print(f"nginx exited with status {code}", file=sys.stderr)
    lifeline.exit_now(1)


def run_child(kind: str, options: dict[str, str], parent_pid: int | None, downstream_url: str | None = None) -> None:
    """Serve ``kind`` until the parent goes away (or SIGTERM); never returns."""
    lifeline.die_with_parent(parent_pid)
    if kind == "async-downstream":
        _run_async(options, parent_pid, downstream_url)
    if kind == "proxy":
        _run_proxy(parent_pid, downstream_url)
    cgroup_dir: str | None = None
    if kind == "quota":
        from bottlenecktop.demo import quota

        # In the cgroup before any thread starts or any request is served; out of it again on every exit.
        cgroup = quota.create(float(options["quota_cpus"]))
        lifeline.on_exit(lambda: quota.leave_and_remove(cgroup))
        try:
            quota.enter(cgroup)
        except OSError:
            quota.leave_and_remove(cgroup)  # a plain return runs no lifeline cleanup
            raise
        cgroup_dir = str(cgroup.directory)
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
        _say_ready(port, [os.getpid(), *children], workdir, cgroup_dir)
    try:
        server.serve_forever(poll_interval=0.5)
    except BaseException as exc:
        print(f"demo server stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
    lifeline.exit_now(1)
