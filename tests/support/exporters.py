"""Debian's Prometheus exporters and server, started on 127.0.0.1 on a free port and always stopped again."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

NODE_EXPORTER = "prometheus-node-exporter"
PROCESS_EXPORTER = "prometheus-process-exporter"
PROMETHEUS = "prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package {binary}; .ci/test installs it)")
    return path


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(argv: list[str], ready_url: str, log: Path | None = None,
          timeout: float = 15.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run ARGV until the block ends; wait (bounded) until READY_URL answers 200."""
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(ready_url):
            assert proc.poll() is None, f"{argv[0]} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{argv[0]} did not answer {ready_url} within {timeout:.0f} s"
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)
        if log is not None and not isinstance(out, int):
            out.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def node_exporter(port: int | None = None) -> Iterator[str]:
    """Yield the exporter's base URL, http://127.0.0.1:PORT."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with serve([need(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}"], f"{url}/metrics"):
        yield url


@contextmanager
def process_exporter(config: Path, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [need(PROCESS_EXPORTER), "-config.path", str(config), "-threads=true",
            f"-web.listen-address=127.0.0.1:{port}"]
    with serve(argv, f"{url}/metrics"):
        yield url


@contextmanager
def prometheus(directory: Path, targets: list[str], scrape_s: float = 1.0) -> Iterator[str]:
    """A Prometheus scraping TARGETS ("127.0.0.1:PORT") as job "node" every SCRAPE_S; its data under DIRECTORY."""
    port = free_port()
    config = directory / "prometheus.yml"
    quoted = ", ".join(f'"{t}"' for t in targets)
    config.write_text(f"global:\n  scrape_interval: {scrape_s:g}s\n  evaluation_interval: {scrape_s:g}s\n"
                      f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{quoted}]\n")
    url = f"http://127.0.0.1:{port}"
    argv = [need(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    with serve(argv, f"{url}/-/ready", log=directory / "prometheus.log", timeout=30.0):
        yield url
