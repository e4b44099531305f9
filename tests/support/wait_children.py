"""Children for the kernel wait tests: each holds threads in one known kernel wait, prints 'ready' and the
native thread ids (name=tid pairs), and ends by itself after a bounded time (argv[1] seconds)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.probe_children import PRELUDE

# argv: seconds, then the ports of three local servers (the child connects to each and waits on it)
WAITS = PRELUDE + """
import select, selectors
seconds = float(sys.argv[1])
ports = [int(p) for p in sys.argv[2:5]]
ev = threading.Event()
lock = threading.Lock()
lock.acquire()
conns = [socket.create_connection(("127.0.0.1", p)) for p in ports]
tids = {}
def named(name, fn):
    def run():
        tids[name] = threading.get_native_id()
        fn()
    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t
def recv_blocking():
    conns[0].recv(10)  # no timeout: a plain recvfrom on the socket
def poll_wait():
    p = select.poll()
    p.register(conns[1], select.POLLIN)
    p.poll(seconds * 1000)
def epoll_wait():
    sel = selectors.EpollSelector()
    sel.register(conns[2], selectors.EVENT_READ)
    sel.select(seconds)
def select_wait():
    select.select([conns[0]], [], [], seconds)
def disk_writer():
    path = sys.argv[5]
    block = os.urandom(1 << 20)  # 1 MiB per fsync: a 64-KiB block left fsync too short to be seen in D state
    deadline = time.monotonic() + seconds
    with open(path, "wb") as f:
        while time.monotonic() < deadline:
            f.write(block)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
for name, fn in (("event", lambda: ev.wait(seconds)), ("lock", lambda: lock.acquire(timeout=seconds)),
                 ("recv", recv_blocking), ("poll", poll_wait), ("epoll", epoll_wait), ("select", select_wait),
                 ("sleeper", lambda: time.sleep(seconds)), ("disk", disk_writer)):
    named(name, fn)
deadline = time.monotonic() + 5
while len(tids) < 8 and time.monotonic() < deadline:
    time.sleep(0.01)
ready(*[f"{k}={v}" for k, v in tids.items()])
time.sleep(seconds)
"""

# A thread-per-request server: an accept thread and workers that each ask a downstream (argv[2] port) and
# wait for its reply before answering. Prints 'ready PORT accept=TID'.
THREADED_PROXY = PRELUDE + """
seconds, down_port = float(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
def work(c):
    with c:
        c.recv(1024)
        with socket.create_connection(("127.0.0.1", down_port)) as d:
            d.sendall(b"query\\n")
            d.recv(1024)
        c.sendall(b"done\\n")
accept_tid = []
def accept_loop():
    accept_tid.append(threading.get_native_id())
    while True:
        c, _ = srv.accept()
        threading.Thread(target=work, args=(c,), daemon=True).start()
threading.Thread(target=accept_loop, daemon=True).start()
while not accept_tid:
    time.sleep(0.01)
ready(srv.getsockname()[1], f"accept={accept_tid[0]}")
time.sleep(seconds)
"""

# A slow HTTP/1.1 upstream: answers every request after argv[2] seconds. Prints 'ready PORT'.
SLOW_HTTP = PRELUDE + """
import http.server
delay = float(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(delay)
        body = b"slow\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
ready(srv.server_address[1])
threading.Thread(target=srv.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[1]))
"""

# Node.js: an http server whose handler awaits the upstream at argv port over http. Prints 'ready PORT'.
NODE_PROXY = """
const http = require('http');
const up = parseInt(process.argv[1], 10);
const server = http.createServer((req, res) => {
  http.get({host: '127.0.0.1', port: up, path: '/', agent: false}, (r) => {
    let body = '';
    r.on('data', (d) => { body += d; });
    r.on('end', () => { res.end('proxied ' + body); });
  }).on('error', () => { res.statusCode = 502; res.end(); });
});
server.listen(0, '127.0.0.1', () => { console.log('ready ' + server.address().port); });
setTimeout(() => process.exit(0), parseInt(process.argv[2], 10) * 1000);
"""


class ListenServer:
    """A TCP listener on 127.0.0.1 in the test process that accepts and holds connections without answering
    (a downstream that never replies while the test runs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        for _ in range(1000):  # bounded: a test opens a few connections
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)

    def close(self) -> None:
        for c in self.held:
            c.close()
        self.sock.close()


class SlowReplyServer(ListenServer):
    """Replies 'ok' DELAY seconds after each line it receives, one thread per connection."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        super().__init__()

    def _accept(self) -> None:
        for _ in range(1000):
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while c.recv(1024):
                time.sleep(self.delay)
                c.sendall(b"ok\n")


@contextmanager
def http_clients(port: int, n: int, timeout: float = 20.0) -> Iterator[list[threading.Thread]]:
    """N threads that each send one GET to 127.0.0.1:PORT and read the reply (in the background)."""
    def one() -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        yield threads
    finally:
        for t in threads:
            t.join(timeout)


@contextmanager
def process(argv: list[str], timeout: float = 10.0) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ARGV, wait for its 'ready ...' line (within TIMEOUT s); yield (process, the words after ready)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = _readline(proc, timeout)
        words = line.split()
        assert words[:1] == ["ready"], f"{argv[0]} did not start: {line!r}"
        yield proc, words[1:]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.readline())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else ""


# argv: seconds, a unix socket path, an IPv6 loopback port: one thread blocked in recv on each
UNIX_AND_V6 = PRELUDE + """
seconds, path, port = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
u = socket.socket(socket.AF_UNIX)
u.connect(path)
v6 = socket.create_connection(("::1", port))
tids = {}
def recv_on(name, s):
    tids[name] = threading.get_native_id()
    s.recv(10)
for name, s in (("unix", u), ("v6", v6)):
    threading.Thread(target=recv_on, args=(name, s), daemon=True).start()
deadline = time.monotonic() + 5
while len(tids) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
ready(*[f"{k}={v}" for k, v in tids.items()])
time.sleep(seconds)
"""
