"""PR_SET_PDEATHSIG for real: a child started from a thread dies when that thread ends, both ways it is set."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time

import pytest

from bottlenecktop.probes.parent_death import dying_with_parent


@pytest.mark.parametrize("way", ["setpriv", "preexec"])
def test_a_child_dies_with_the_thread_that_started_it(way: str) -> None:
    setpriv = shutil.which("setpriv")
    if way == "setpriv" and setpriv is None:
        pytest.skip("util-linux's setpriv is not installed")
    started: list[subprocess.Popen[bytes]] = []

    def spawn() -> None:
        argv, preexec = dying_with_parent(["sleep", "30"], signal.SIGKILL,
                                          setpriv=setpriv if way == "setpriv" else None)
        assert (preexec is None) == (way == "setpriv")
        started.append(subprocess.Popen(argv, preexec_fn=preexec))
        time.sleep(0.3)  # setpriv has exec'd sleep by now

    t = threading.Thread(target=spawn)
    t.start()
    t.join()
    child = started[0]
    try:
        assert child.wait(timeout=5) == -signal.SIGKILL  # the thread's end killed it, long before 30 s
    finally:
        child.kill()
        child.wait()
