"""An output path never destroys what is there: devices and FIFOs are written into, symlinks resolved, a planted
NAME.tmp never followed, an input never overwritten, and every file is created 0600."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from bottlenecktop.errors import RunFailed
from bottlenecktop.outputs import write_json, write_text


def test_a_new_file_is_private_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["v.json"], "no temporary file is left behind"


def test_a_regular_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text("old")
    path.chmod(0o644)
    write_json(path, {"new": True})
    assert json.loads(path.read_text()) == {"new": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_planted_tmp_symlink_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "v.json.tmp").symlink_to(victim)
    write_json(tmp_path / "v.json", {"a": 1})
    assert victim.read_text() == "precious"
    assert (tmp_path / "v.json.tmp").is_symlink()


def test_a_symlink_is_resolved_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    write_json(link, {"a": 2})
    assert link.is_symlink(), "the link was replaced by a file"
    assert json.loads(real.read_text()) == {"a": 2}


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    write_json(fifo, {"through": "the pipe"})
    reader.join(timeout=10)
    assert json.loads(got[0]) == {"through": "the pipe"}
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_written_into_not_replaced() -> None:
    before = os.stat("/dev/null")
    write_json(Path("/dev/null"), {"a": 1})
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_full_disk_is_one_line() -> None:
    with pytest.raises(RunFailed) as err:
        write_text(Path("/dev/full"), "x" * 100_000)
    assert "No space left" in str(err.value) and "\n" not in str(err.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunFailed):
        write_json(tmp_path, {"a": 1})


@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink", "dotted"])
def test_an_input_is_never_overwritten(tmp_path: Path, spelling: str) -> None:
    recording = tmp_path / "run.btrec"
    recording.write_bytes(b"the recording")
    out = {"same": recording, "dotted": tmp_path / "." / "run.btrec",
           "symlink": tmp_path / "link", "hardlink": tmp_path / "hard"}[spelling]
    if spelling == "symlink":
        out.symlink_to(recording)
    if spelling == "hardlink":
        os.link(recording, out)
    with pytest.raises(RunFailed, match="input"):
        write_json(out, {"a": 1}, inputs=[recording])
    assert recording.read_bytes() == b"the recording"
