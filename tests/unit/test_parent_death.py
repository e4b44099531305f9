"""PR_SET_PDEATHSIG for real: a child started from a thread dies when that thread ends, both ways it is set."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bottlenecktop.probes.parent_death import dying_with_parent, takes_pdeathsig, working_setpriv


@pytest.mark.parametrize("way", ["setpriv", "preexec"])
def test_a_child_dies_with_the_thread_that_started_it(way: str) -> None:
    if way == "setpriv" and working_setpriv() is None:
        pytest.skip("no setpriv that takes --pdeathsig (util-linux 2.33+)")
    started: list[subprocess.Popen[bytes]] = []

    def spawn() -> None:
        argv, preexec = dying_with_parent(["sleep", "30"], signal.SIGKILL, use_setpriv=way == "setpriv")
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


def test_a_setpriv_without_pdeathsig_is_not_used(tmp_path: Path) -> None:
    old = tmp_path / "setpriv"  # as util-linux before 2.33 answers an unknown option
    old.write_text("#!/bin/sh\necho \"setpriv: unrecognized option '$1'\" >&2\nexit 1\n")
    old.chmod(0o755)
    assert not takes_pdeathsig(str(old))
    assert not takes_pdeathsig(str(tmp_path / "missing"))
    real = working_setpriv()
    if real is not None:
        assert takes_pdeathsig(real)
