"""Files the program writes for the person: the verdict JSON, reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from bottlenecktop.errors import RunFailed


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON document atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}") from None
