"""The engine never imports Textual: import every engine module in a fresh interpreter and look."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import ROOT

SCRIPT = """
import importlib, pkgutil, sys
import bottlenecktop
names = []
for pkg in (bottlenecktop,):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.name.startswith(("bottlenecktop.app", "bottlenecktop.tui")) or info.name.endswith("__main__"):
            continue  # the entry point and the screen; everything else is the engine
        importlib.import_module(info.name)
        names.append(info.name)
leaked = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "textual_plotext")))
print(len(names), "modules;", "leaked:", leaked)
sys.exit(1 if leaked or len(names) < 5 else 0)
"""


def test_engine_modules_do_not_load_textual() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_does_not_load_textual() -> None:
    script = "import sys; from bottlenecktop.app.cli import parse_args; parse_args(['http://127.0.0.1:1/']); " \
             "sys.exit(1 if 'textual' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
