"""Real servers nobody here wrote, each with a limit known by construction, on 127.0.0.1 and free ports.

Every helper is a context manager: it starts the server(s), waits (bounded) until the port answers, yields a
``RealTarget`` and, at the end, stops everything it started (SIGTERM, then SIGKILL after a bounded wait) and
deletes what it made. Files live under the ``directory`` given (a pytest tmp_path), except PostgreSQL's data
directory when running as root: postgres refuses root, and pytest's tmp dirs are closed to other users, so that
one goes to a fresh 0700 directory under /tmp owned by the ``postgres`` user and is deleted at the end.

Helper: limit by construction -> the verdict a person would give.

- ``flask_postgres``: gunicorn gthread, ``threads`` x ``SELECT pg_sleep(sleep_s)``: threads / sleep_s = 200 req/s
  -> downstream, PostgreSQL at 127.0.0.1:PORT.
- ``flask_redis``: a Lua script holds redis-server's one thread ``burn_ms``: 1000 / burn_ms = 200 req/s
  -> downstream, redis-server's one thread at a core.
- ``node_cpu``: one Node.js thread spins ``burn_ms`` (wall clock) per request: 1000 / burn_ms = 250 req/s
  -> cpu-thread, node's main thread.
- ``nginx_proxy``: nginx -> an upstream of ``slots`` x ``delay_ms``: slots x 1000 / delay_ms = 200 req/s
  -> downstream, the upstream's address (nginx idle in epoll).
- ``asyncio_httpx``: uvicorn + starlette, ``Semaphore(concurrency)`` around an httpx GET of ``delay_ms`` (8, 40):
  concurrency x 1000 / delay_ms = 200 req/s -> downstream, the upstream's address (the loop idle in epoll).
- ``cpu_quota``: ``work_ms`` of CPU per request in a cgroup of ``quota_cpus``: quota x 1000 / work_ms = 50 req/s
  -> cpu, cgroup PATH (quota 0.5 CPU).
- ``leaking``: keeps ``kib`` KiB per request: memory gone after MemAvailable / (kib x rate) s -> memory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.support.servers import free_port, spawn_server_process

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CPU_CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass
class RealTarget:
    """A running target: where to ramp, who serves it, and what limits it by construction."""

    url: str
    pid: int  # the process listening on the URL's port (a pre-fork server's master)
    capacity_rps: float | None  # req/s by construction; None where the limit is not a rate (the leak)
    peer: str | None = None  # "127.0.0.1:PORT" of the downstream that sets the limit
    peer_pid: int | None = None  # the local process behind ``peer``
    cgroup: str | None = None  # the cgroup path as /proc/PID/cgroup shows it, e.g. "/bttest-123"
    quota_cpus: float | None = None
    retained_bytes_per_request: int | None = None
    pids: list[int] = field(default_factory=list)  # every process started for it


# ---- processes ---------------------------------------------------------------------------------------------------


class _Group:
    """Processes started for one fixture, each in its own session; stop() ends them and all their descendants."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[tuple[str, subprocess.Popen[bytes], signal.Signals]] = []
        self._cleanups: list[Callable[[], None]] = []

    def spawn(self, name: str, argv: list[str], *, stop_signal: signal.Signals = signal.SIGTERM,
              env: dict[str, str] | None = None, cwd: Path | None = None, user: str | None = None,
              ) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - the child holds it; closed at stop
        self._cleanups.append(log.close)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=cwd, user=user, start_new_session=True)
        self.procs.append((name, proc, stop_signal))
        return proc

    def on_stop(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def log_tail(self, name: str, chars: int = 600) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """Stop in reverse start order: the front (app) before what it calls (database)."""
        for _name, proc, sig in reversed(self.procs):
            _stop_tree(proc, sig)
        for fn in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                fn()


def _stop_tree(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
    """``sig`` to the process, SIGKILL to it and every descendant still alive after a bounded wait."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        tree = []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT_S)
    _, alive = psutil.wait_procs(tree, timeout=1.0)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=2.0)
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


def _wait_port(port: int, group: _Group, name: str, proc: subprocess.Popen[bytes],
               timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if proc.poll() is not None else f"no answer in {timeout:g} s"
            raise RuntimeError(f"{name} did not start ({why}): {group.log_tail(name)}")
        time.sleep(0.05)


def _wait_http(port: int, group: _Group, name: str, proc: subprocess.Popen[bytes],
               timeout: float = START_TIMEOUT_S) -> None:
    """Until a GET / answers 200 (the whole chain behind the port works), bounded."""
    import http.client

    _wait_port(port, group, name, proc, timeout)
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            last = f"{resp.status} {resp.read()[:200]!r}"
            if resp.status == 200:
                return
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        finally:
            conn.close()
        time.sleep(0.1)
    raise RuntimeError(f"{name} answered {last} instead of 200: {group.log_tail(name)}")


def _descendants(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return [pid]


@contextlib.contextmanager
def _group(directory: Path) -> Iterator[_Group]:
    group = _Group(directory)
    try:
        yield group
    finally:
        group.stop()


def _write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


# ---- PostgreSQL behind gunicorn + Flask + psycopg 3 ----------------------------------------------------------------


def _pg_user() -> str | None:
    """The OS user postgres runs as: ourselves unless root; as root, Debian's ``postgres`` user (made if absent)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True, timeout=30)
    return "postgres"


@dataclass
class Postgres:
    port: int
    pid: int
    dsn: str  # TCP on 127.0.0.1, so the app's sockets have a peer address


@contextlib.contextmanager
def postgres(directory: Path) -> Iterator[Postgres]:
    """A throwaway PostgreSQL 15 cluster (initdb, no fsync) on 127.0.0.1:PORT and a unix socket dir of its own."""
    user = _pg_user()
    base = Path(tempfile.mkdtemp(prefix="bttest-pg-")) if user else directory / "pg"
    base.mkdir(exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    data, port = base / "data", free_port()
    with _group(directory) as group:
        group.on_stop(lambda: shutil.rmtree(base, ignore_errors=True))
        init = subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                               "--no-sync", "-E", "UTF8", "--locale", "C"], capture_output=True, text=True,
                              timeout=120, user=user, cwd=base)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-400:]}")
        # SIGINT is postgres's fast shutdown: it ends the backends instead of waiting for the app's pool.
        proc = group.spawn("postgres", [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                        "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}",
                                        "-c", "fsync=off", "-c", "max_connections=64", "-c", "shared_buffers=16MB"],
                           stop_signal=signal.SIGINT, user=user, cwd=base)
        _wait_port(port, group, "postgres", proc)
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
        _wait_sql(dsn, group, proc)
        yield Postgres(port=port, pid=proc.pid, dsn=dsn)


def _wait_sql(dsn: str, group: _Group, proc: subprocess.Popen[bytes]) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(dsn) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:  # "the database system is starting up"
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres is not answering: {exc}: {group.log_tail('postgres')}") from None
            time.sleep(0.1)


PG_APP = """
    import os

    from flask import Flask
    from psycopg_pool import ConnectionPool

    THREADS = int(os.environ["BT_THREADS"])
    SLEEP_S = float(os.environ["BT_SLEEP_S"])
    # One pooled connection per worker thread: the pool is never what they wait for, PostgreSQL is.
    pool = ConnectionPool(os.environ["BT_DSN"], min_size=THREADS, max_size=THREADS, open=True)
    pool.wait(timeout=30)
    app = Flask(__name__)


    @app.get("/")
    def index() -> str:
        with pool.connection() as conn:
            conn.execute("SELECT pg_sleep(%s)", (SLEEP_S,))
        return "ok\\n"
"""


def _gunicorn(group: _Group, directory: Path, module: str, port: int, threads: int, env: dict[str, str]) -> int:
    """gunicorn with one gthread worker of ``threads`` threads; returns the master's pid once GET / is 200."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", "gthread", "--threads", str(threads), "--backlog", "1024", "--keep-alive", "75",
            "--worker-connections", "1000", "--chdir", str(directory), "--log-level", "warning", f"{module}:app"]
    proc = group.spawn("gunicorn", argv, env=env, cwd=directory)
    _wait_http(port, group, "gunicorn", proc)
    return proc.pid


@contextlib.contextmanager
def flask_postgres(directory: Path, threads: int = 16, sleep_s: float = 0.08) -> Iterator[RealTarget]:
    """gunicorn (1 gthread worker, ``threads`` threads) + Flask; each request runs ``SELECT pg_sleep(sleep_s)``
    through a psycopg 3 pool over TCP: threads / sleep_s req/s (16 / 0.08 s = 200 req/s), PostgreSQL the wait.

    The sleep is long next to the ~3 ms each request spends in Flask and psycopg (1.2 ms of CPU, measured), so
    the limit by construction holds within a few per cent (with 4 x 20 ms it came out 167, not 200)."""
    with postgres(directory) as pg, _group(directory) as group:
        _write(directory, "pgapp.py", PG_APP)
        port = free_port()
        master = _gunicorn(group, directory, "pgapp", port, threads,
                           {"BT_DSN": pg.dsn, "BT_THREADS": str(threads), "BT_SLEEP_S": str(sleep_s)})
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=master, capacity_rps=threads / sleep_s,
                         peer=f"127.0.0.1:{pg.port}", peer_pid=pg.pid, pids=[*_descendants(master), pg.pid])


# ---- Redis behind gunicorn + Flask + redis-py ----------------------------------------------------------------------

# Busy until ARGV[1] microseconds of wall time have passed: the script holds redis-server's one thread that long,
# whoever else wants it, so calls are served one at a time at most 1e6 / ARGV[1] per second.
BURN_LUA = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
local budget = tonumber(ARGV[1])
while true do
  t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= budget then return 1 end
end
"""

REDIS_APP = '''
    import os

    import redis
    from flask import Flask

    BURN_US = int(os.environ["BT_BURN_US"])
    pool = redis.BlockingConnectionPool(host="127.0.0.1", port=int(os.environ["BT_REDIS_PORT"]),
                                        max_connections=int(os.environ["BT_THREADS"]), timeout=30)
    client = redis.Redis(connection_pool=pool)
    burn = client.register_script(os.environ["BT_LUA"])
    app = Flask(__name__)


    @app.get("/")
    def index() -> str:
        burn(args=[BURN_US])
        return "ok\\n"
'''


@contextlib.contextmanager
def flask_redis(directory: Path, threads: int = 8, burn_ms: float = 5.0) -> Iterator[RealTarget]:
    """gunicorn (1 gthread worker, ``threads`` threads) + Flask; each request runs a Lua script that keeps
    redis-server's single thread busy ``burn_ms``: 1000 / burn_ms req/s (5 ms: 200 req/s), redis-server at a core."""
    redis_port, port = free_port(), free_port()
    with _group(directory) as group:
        (directory / "redis").mkdir()
        redis_proc = group.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no", "--dir", str(directory / "redis"),
                                           "--daemonize", "no", "--protected-mode", "yes", "--io-threads", "1"])
        _wait_port(redis_port, group, "redis", redis_proc)
        _write(directory, "redisapp.py", REDIS_APP)
        master = _gunicorn(group, directory, "redisapp", port, threads,
                           {"BT_REDIS_PORT": str(redis_port), "BT_THREADS": str(threads),
                            "BT_BURN_US": str(round(burn_ms * 1000)), "BT_LUA": BURN_LUA})
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=master, capacity_rps=1000.0 / burn_ms,
                         peer=f"127.0.0.1:{redis_port}", peer_pid=redis_proc.pid,
                         pids=[*_descendants(master), redis_proc.pid])


# ---- Node.js: one thread, a fixed burn per request -----------------------------------------------------------------

NODE_APP = """
    // One thread: every request spins BURN_MS of wall time on the event loop, so at most 1000 / BURN_MS req/s.
    const http = require("http");
    const { performance } = require("perf_hooks");
    const burnMs = Number(process.env.BT_BURN_MS);
    let x = 1;
    const server = http.createServer((req, res) => {
      const end = performance.now() + burnMs;
      while (performance.now() < end) { for (let i = 0; i < 200; i++) x = (x * 1103515245 + 12345) & 0x7fffffff; }
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "3" });
      res.end("ok\\n");
    });
    server.keepAliveTimeout = 75000;
    server.listen(Number(process.env.BT_PORT), "127.0.0.1", 1024);
"""


@contextlib.contextmanager
def node_cpu(directory: Path, burn_ms: float = 4.0) -> Iterator[RealTarget]:
    """A Node.js http server whose one JavaScript thread spins ``burn_ms`` per request: 1000 / burn_ms req/s
    (4 ms: 250 req/s), that thread at ~100 % of a core while the other core has room."""
    port = free_port()
    with _group(directory) as group:
        script = _write(directory, "burn.js", NODE_APP)
        proc = group.spawn("node", ["node", str(script)], env={"BT_PORT": str(port), "BT_BURN_MS": str(burn_ms)})
        _wait_http(port, group, "node", proc)
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=proc.pid, capacity_rps=1000.0 / burn_ms,
                         pids=[proc.pid])


# ---- nginx in front of a slow upstream -----------------------------------------------------------------------------

NGINX_CONF = """
    {user}worker_processes 1;
    daemon off;
    pid {d}/nginx.pid;
    error_log {d}/error.log warn;
    events {{ worker_connections 4096; }}
    http {{
      access_log off;
      client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d};
      scgi_temp_path {d};
      keepalive_requests 1000000;
      keepalive_timeout 75s;
      upstream slow {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}
      server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
          proxy_pass http://slow;
          proxy_http_version 1.1;
          proxy_set_header Connection "";
          proxy_read_timeout 30s;
        }}
      }}
    }}
"""


def _python_upstream(group: _Group, slots: int, delay_ms: float) -> tuple[int, int]:
    """A CapacityServer (slots x delay) in its own process, stopped with the group; returns (pid, port)."""
    proc, port = spawn_server_process(slots=slots, work_ms=delay_ms)
    group.on_stop(lambda: _stop_tree(proc, signal.SIGTERM))
    return proc.pid, port


@contextlib.contextmanager
def nginx_proxy(directory: Path, slots: int = 4, delay_ms: float = 20.0) -> Iterator[RealTarget]:
    """nginx (one worker, keep-alive upstream) proxying to a Python upstream that serves ``slots`` requests at a
    time for ``delay_ms`` each: slots x 1000 / delay_ms req/s (4 x 20 ms: 200 req/s), nginx idle in epoll."""
    port = free_port()
    with _group(directory) as group:
        up_pid, up_port = _python_upstream(group, slots, delay_ms)
        conf = _write(directory, "nginx.conf", NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "", d=directory, upstream=up_port, port=port))
        proc = group.spawn("nginx", ["nginx", "-c", str(conf), "-p", str(directory), "-e",
                                     str(directory / "error.log")], stop_signal=signal.SIGTERM)
        _wait_http(port, group, "nginx", proc)
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=proc.pid, capacity_rps=slots * 1000.0 / delay_ms,
                         peer=f"127.0.0.1:{up_port}", peer_pid=up_pid, pids=[*_descendants(proc.pid), up_pid])


# ---- asyncio: uvicorn + starlette awaiting httpx -------------------------------------------------------------------

ASYNC_APP = """
    import asyncio
    import contextlib
    import os

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    UPSTREAM = os.environ["BT_UPSTREAM"]
    CONCURRENCY = int(os.environ["BT_CONCURRENCY"])
    limit = asyncio.Semaphore(CONCURRENCY)  # at most CONCURRENCY calls to the upstream in flight


    async def index(request):
        async with limit:
            resp = await request.app.state.client.get(UPSTREAM)
        return PlainTextResponse("ok\\n" if resp.status_code == 200 else "upstream failed\\n",
                                 status_code=200 if resp.status_code == 200 else 502)


    @contextlib.asynccontextmanager
    async def lifespan(app):
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            app.state.client = client
            yield


    app = Starlette(routes=[Route("/", index)], lifespan=lifespan)
"""


@contextlib.contextmanager
def asyncio_httpx(directory: Path, concurrency: int = 8, delay_ms: float = 40.0) -> Iterator[RealTarget]:
    """uvicorn + starlette; each request awaits an httpx.AsyncClient GET of an upstream that takes ``delay_ms``,
    at most ``concurrency`` at once (asyncio.Semaphore): concurrency x 1000 / delay_ms req/s (8 x 40 ms: 200).

    40 ms, not 20: httpx's few ms per call are spent inside the semaphore (4 x 20 ms came out 167, not 200)."""
    port = free_port()
    with _group(directory) as group:
        # The upstream has room for far more than the semaphore lets through: its delay, not its slots, counts.
        up_pid, up_port = _python_upstream(group, 256, delay_ms)
        _write(directory, "asyncapp.py", ASYNC_APP)
        argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--app-dir",
                str(directory), "--no-access-log", "--log-level", "warning", "--backlog", "1024", "asyncapp:app"]
        proc = group.spawn("uvicorn", argv, env={"BT_UPSTREAM": f"http://127.0.0.1:{up_port}/",
                                                 "BT_CONCURRENCY": str(concurrency)})
        _wait_http(port, group, "uvicorn", proc)
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=proc.pid,
                         capacity_rps=concurrency * 1000.0 / delay_ms, peer=f"127.0.0.1:{up_port}",
                         peer_pid=up_pid, pids=[proc.pid, up_pid])


# ---- a CPU-bound server inside a CPU-quota cgroup ------------------------------------------------------------------

QUOTA_SERVER = """
    # Moves itself into the cgroup first, then serves: no request is ever served outside the quota.
    import os
    import sys
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cgroup, port, work_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            end = time.thread_time() + work_ms / 1000.0  # CPU time: fixed work however the quota stalls us
            x = 1
            while time.thread_time() < end:
                for _ in range(200):
                    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\\n")

        def log_message(self, *args):
            pass


    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024


    Server(("127.0.0.1", port), Handler).serve_forever()
"""


def writable_cpu_cgroup_root() -> Path | None:
    """Where a CPU-quota cgroup can be made: cgroup v1's cpu controller, else cgroup v2 with cpu enabled."""
    if (CPU_CGROUP_V1 / "cpu.cfs_quota_us").exists() and os.access(CPU_CGROUP_V1, os.W_OK):
        return CPU_CGROUP_V1
    controllers = CGROUP_V2 / "cgroup.subtree_control"
    if controllers.exists() and "cpu" in controllers.read_text().split() and os.access(CGROUP_V2, os.W_OK):
        return CGROUP_V2
    return None


def set_quota(path: Path, quota_cpus: float, period_us: int = 100_000) -> None:
    """Set (or change) the CPU quota of the cgroup at ``path``, in CPUs."""
    quota = str(round(quota_cpus * period_us))
    if (path / "cpu.cfs_quota_us").exists():  # cgroup v1
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(quota)
    else:
        (path / "cpu.max").write_text(f"{quota} {period_us}")


@contextlib.contextmanager
def cpu_cgroup(quota_cpus: float, period_us: int = 100_000) -> Iterator[tuple[Path, str]]:
    """A fresh cgroup with a CPU quota of ``quota_cpus``; yields (its directory, its path as /proc/PID/cgroup
    shows it). Removed at the end once empty (bounded wait); a process still inside is killed first."""
    root = writable_cpu_cgroup_root()
    if root is None:
        raise RuntimeError("no writable cgroup with a cpu controller (cgroup v1 cpu or v2 with +cpu)")
    path = root / f"bttest-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    path.mkdir()
    try:
        set_quota(path, quota_cpus, period_us)
        yield path, "/" + path.name
    finally:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.05)


@contextlib.contextmanager
def cpu_quota(directory: Path, quota_cpus: float = 0.5, work_ms: float = 10.0) -> Iterator[RealTarget]:
    """A ThreadingHTTPServer burning ``work_ms`` of CPU per request inside a cgroup of ``quota_cpus`` CPUs:
    quota x 1000 / work_ms req/s (0.5 x 1000 / 10 = 50 req/s) while the node stays mostly idle.

    10 ms, not 5: the ~0.5 ms of CPU the HTTP handling itself takes per request counts against the quota too
    (with 5 ms the server did 91 req/s, not 100)."""
    port = free_port()
    with cpu_cgroup(quota_cpus) as (cgroup_dir, cgroup_path), _group(directory) as group:
        script = _write(directory, "quota_server.py", QUOTA_SERVER)
        proc = group.spawn("quota", [sys.executable, str(script), str(cgroup_dir), str(port), str(work_ms)])
        _wait_http(port, group, "quota", proc)
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=proc.pid, capacity_rps=quota_cpus * 1000.0 / work_ms,
                         cgroup=cgroup_path, quota_cpus=quota_cpus, pids=[proc.pid])


# ---- a server that leaks -------------------------------------------------------------------------------------------

LEAK_SERVER = """
    # Keeps KIB KiB per request for good (touched, so it is resident). A fuse: past CAP bytes it answers 507
    # instead, so a run that goes on too long cannot take the machine's memory with it.
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    port, size, cap = int(sys.argv[1]), int(sys.argv[2]) * 1024, int(sys.argv[3])
    kept = []
    lock = threading.Lock()


    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            with lock:
                full = len(kept) * size >= cap
                if not full:
                    kept.append(b"x" * size)
            self.send_response(507 if full else 200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\\n")

        def log_message(self, *args):
            pass


    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024


    Server(("127.0.0.1", port), Handler).serve_forever()
"""


@contextlib.contextmanager
def leaking(directory: Path, kib: int = 256, cap_bytes: int | None = None) -> Iterator[RealTarget]:
    """A ThreadingHTTPServer that keeps ``kib`` KiB per request: at R req/s memory is gone after
    MemAvailable / (kib x 1024 x R) seconds. ``cap_bytes`` (default a quarter of MemAvailable) is a fuse."""
    port = free_port()
    cap = cap_bytes if cap_bytes is not None else psutil.virtual_memory().available // 4
    with _group(directory) as group:
        script = _write(directory, "leak_server.py", LEAK_SERVER)
        proc = group.spawn("leak", [sys.executable, str(script), str(port), str(kib), str(cap)])
        _wait_port(port, group, "leak", proc)
        yield RealTarget(url=f"http://127.0.0.1:{port}/", pid=proc.pid, capacity_rps=None,
                         retained_bytes_per_request=kib * 1024, pids=[proc.pid])


__all__ = ["RealTarget", "asyncio_httpx", "cpu_cgroup", "cpu_quota", "flask_postgres", "flask_redis", "leaking",
           "nginx_proxy", "node_cpu", "postgres", "set_quota", "writable_cpu_cgroup_root"]
