"""The engine never imports Textual: import every engine module in a fresh interpreter and look."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.support.paths import ROOT

SCRIPT = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "textual_plotext")))
print(len(names), "modules;", "leaked:", leaked)
sys.exit(1 if leaked else 0)
"""


def wheel_modules() -> list[str]:
    """Every module the wheel installs, from the files and pyproject's package-dir mapping (probes/ and tui/
    install inside bottlenecktop): walking bottlenecktop.__path__ under the editable install saw only some."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    names = []
    for package, folder in mapping.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            names.append(".".join((package, *parts)).removesuffix(".__init__"))
    return names


def test_the_module_list_is_the_wheels() -> None:
    names = wheel_modules()
    assert "bottlenecktop.probes.threads" in names and "bottlenecktop.tui.app" in names
    assert len(names) == len(set(names)) and len(names) > 100


def test_engine_modules_do_not_load_textual() -> None:
    engine = [n for n in wheel_modules() if not n.startswith(("bottlenecktop.app", "bottlenecktop.tui"))
              and not n.endswith("__main__")]  # the entry point and the screen; everything else is the engine
    result = subprocess.run([sys.executable, "-c", SCRIPT, *engine], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{len(engine)} modules"), result.stdout


def test_cli_help_does_not_load_textual() -> None:
    script = "import sys; from bottlenecktop.app.cli import parse_args; parse_args(['http://127.0.0.1:1/']); " \
             "sys.exit(1 if 'textual' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
