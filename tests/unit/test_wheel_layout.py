"""The wheel installs one import name, bottlenecktop, and every package folder of the checkout is in it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.paths import ROOT

MAPPED = {
    "bottlenecktop": ROOT / "bottlenecktop",
    "bottlenecktop/probes": ROOT / "probes",
    "bottlenecktop/tui": ROOT / "tui",
}


def _build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=240)
    (wheel,) = out.glob("bottlenecktop-*.whl")
    return wheel


def test_wheel_holds_only_bottlenecktop_and_all_of_it(tmp_path: Path) -> None:
    names = zipfile.ZipFile(_build_wheel(tmp_path)).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"bottlenecktop"}
    expected = set()
    for prefix, folder in MAPPED.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder)
            if "__pycache__" in rel.parts or (prefix == "bottlenecktop" and rel.parts[0] in ("probes", "tui")):
                continue
            expected.add(f"{prefix}/{rel.as_posix()}")
    missing = sorted(expected - set(names))
    assert not missing, missing
    assert "bottlenecktop/tui/app.tcss" in names
    assert "bottlenecktop/probes/load/worker/__main__.py" in names
