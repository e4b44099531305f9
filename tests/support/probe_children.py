"""Child processes for the probe tests: each prints 'ready' once it is in the state under test, and ends by
itself after a bounded time so that a failed test never leaves it behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

# names the child gives its threads, in Python (py-spy) and in /proc/PID/task/TID/comm
PRELUDE = """
import os, socket, sys, threading, time
def set_comm(name):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(name)
def ready(*extra):
    print("ready", *extra, flush=True)
"""

BURN_ONE_THREAD = PRELUDE + """
def hot_loop_for_test(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += 1
def burner():
    set_comm("burner")
    hot_loop_for_test(time.monotonic() + float(sys.argv[1]))
t = threading.Thread(target=burner, name="burner")
t.start()
ready(t.native_id)
t.join()
"""

# One named Python thread spinning in a known function, for the tick loop and headless --pid.
NAMED_HOT_THREAD = PRELUDE + """
def render_page(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += 1
t = threading.Thread(target=render_page, args=(time.monotonic() + float(sys.argv[1]),), name="renderer")
t.start()
ready()
t.join()
"""

LEAK_FDS = PRELUDE + """
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
files = []
ready()
for _ in range(150):
    files.append(open(os.devnull))
    time.sleep(0.01)
time.sleep(float(sys.argv[1]))
"""

TINY_BACKLOG = PRELUDE + """
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
ready(s.getsockname()[1])
time.sleep(float(sys.argv[1]))
"""

WAITERS = PRELUDE + """
lock = threading.Lock()
lock.acquire()
a, b = socket.socketpair()
def wait_on_lock():
    lock.acquire(timeout=float(sys.argv[1]))
def wait_on_socket():
    a.settimeout(float(sys.argv[1]))
    try:
        a.recv(10)
    except OSError:
        pass
def hot_loop_for_test(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += 1
threading.Thread(target=wait_on_lock, name="lock-waiter", daemon=True).start()
threading.Thread(target=wait_on_socket, name="socket-waiter", daemon=True).start()
ready()
hot_loop_for_test(time.monotonic() + float(sys.argv[1]))
"""

EXIT_SOON = PRELUDE + """
ready()
time.sleep(float(sys.argv[1]))
"""


@contextmanager
def child(script: str, seconds: float = 10.0) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start SCRIPT (which ends after SECONDS), wait for its 'ready' line; yield (process, ready words).
    The script runs from a file, as a real server does, so that py-spy's frames point to source lines."""
    with tempfile.NamedTemporaryFile("w", suffix="_child.py", delete=False) as f:
        f.write(script)
    proc = subprocess.Popen([sys.executable, f.name, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the child prints 'ready' within a second or exits (EOF)
        words = line.split()
        assert words[:1] == ["ready"], f"child did not start: {line!r}"
        yield proc, words[1:]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        os.unlink(f.name)


def wait_until(predicate: object, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(step)
    return False
