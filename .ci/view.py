"""Build build/view/: the installed layout of the package (bottlenecktop/, with probes/ and tui/ inside it) as
links to the files of this checkout, for the tools that do not follow setuptools' package-dir mapping (mypy,
import-linter). Files are linked one by one in real folders, because grimp does not walk linked folders.

Run: python .ci/view.py   (then: mypy; PYTHONPATH=build/view lint-imports)
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "build" / "view"


def main() -> None:
    mapping: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(VIEW, ignore_errors=True)
    for package, folder in mapping.items():
        source = ROOT / folder
        dest = VIEW.joinpath(*package.split("."))
        for path in source.rglob("*"):
            rel = path.relative_to(source)
            if "__pycache__" in rel.parts or path.is_dir():
                continue
            # A subpackage mapped elsewhere (bottlenecktop.probes) is not also taken from inside its parent's folder.
            if any((dest / rel).is_relative_to(VIEW.joinpath(*other.split("."))) for other in mapping
                   if other != package and other.startswith(package + ".")):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)


if __name__ == "__main__":
    main()
