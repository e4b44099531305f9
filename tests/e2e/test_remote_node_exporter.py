"""The whole CLI with the target observed only through node_exporter: a CPU-bound server (the demo's cpu kind,
started on its own, four workers on this box's cores) is ramped with ``--node-exporter`` and no ``--pid``; the
verdict names the exporter's node and its CPU with the exporter's figures, and the recording keeps the remote
samples so that replay and a verdict rebuilt from the frames say the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.demo import start_demo
from bottlenecktop.recording import read_recording
from tests.support.exporters import node_exporter
from tests.support.paths import ROOT
from tests.support.verdict_shape import verdict_problems


def cli(*args: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "bottlenecktop", *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.slow
def test_cpu_bound_server_seen_only_through_node_exporter_is_cpu_on_that_node(tmp_path: Path) -> None:
    out, rec = tmp_path / "v.json", tmp_path / "r.jsonl.gz"
    with node_exporter() as exporter:
        instance = exporter.removeprefix("http://")
        demo = start_demo("cpu", {"workers": "4", "work_ms": "20"})  # more runnable workers than 2 cores
        try:
            result = cli(demo.url, "--node-exporter", exporter, "--headless", "--json", str(out), "--record",
                         str(rec), "--start-rps", "30", "--step-seconds", "2", "--max-time", "60")
        finally:
            demo.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    verdict = json.loads(out.read_text())
    assert verdict_problems(verdict) == []
    assert verdict["target"]["pid"] is None  # no local attach: the exporter is the only view of the target
    lead = verdict["bottleneck"]
    assert lead["resource"] == "cpu" and lead["scope"] == f"node {instance}", lead
    assert lead["evidence"][0].startswith(f"node {instance} (node_exporter): the node's"), lead["evidence"]
    assert lead["confidence"] >= 0.5, lead
    assert f"node {instance}" in result.stdout

    recording = read_recording(rec)
    assert recording.header.remote_sources == [exporter]
    remote = [f.remote for f in recording.frames if f.remote]
    assert len(remote) >= 10 and all(r[0].host == instance for r in remote)
    assert sum(1 for r in remote if r[0].node is not None) >= len(remote) - 2  # the first one primes
    rebuilt = build_verdict(recording.header, recording.frames)
    assert rebuilt.bottleneck.resource == "cpu" and rebuilt.bottleneck.scope == lead["scope"]

    replayed = cli("replay", str(rec), "--headless", "--json", str(tmp_path / "replayed.json"))
    assert replayed.returncode == 0, replayed.stderr
    again = json.loads((tmp_path / "replayed.json").read_text())
    assert again["bottleneck"] == lead


def test_bad_remote_options_are_one_line(tmp_path: Path) -> None:
    for args, said in ((["--node-exporter", "ftp://h:1"], "not an http(s) URL"),
                       (["--selector", 'job="node"'], "--selector needs --prometheus"),
                       (["--prometheus", "http://127.0.0.1:1"], "--prometheus needs --selector"),
                       (["--prometheus", "http://127.0.0.1:1", "--selector", 'job="node"'], "does not answer")):
        result = cli(*args, "--headless", "--max-time", "2", "--no-record")
        assert result.returncode != 0 and said in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_spinning_thread_seen_through_process_exporter_is_cpu_thread(tmp_path: Path) -> None:
    from tests.integration.test_remote_exporters import SPINNER
    from tests.support.exporters import process_exporter

    config = tmp_path / "process-exporter.yml"
    config.write_text('process_names:\n  - name: "{{.Comm}}"\n    comm:\n    - bnt-spin\n')
    script = tmp_path / "spinner.py"
    script.write_text(SPINNER)
    out = tmp_path / "v.json"
    spinner = subprocess.Popen([sys.executable, str(script), "40"], stdout=subprocess.PIPE, text=True)
    try:
        assert spinner.stdout is not None and spinner.stdout.readline().strip() == "ready"
        with node_exporter() as nodes, process_exporter(config) as procs:
            result = cli("--node-exporter", nodes, "--process-exporter", procs, "--headless", "--max-time", "14",
                         "--json", str(out), "--no-record")
    finally:
        spinner.kill()
        spinner.wait(timeout=10)
        if spinner.stdout is not None:
            spinner.stdout.close()
    assert result.returncode == 0, result.stderr[-3000:]
    lead = json.loads(out.read_text())["bottleneck"]
    instance = nodes.removeprefix("http://")
    assert lead["resource"] == "cpu-thread", (lead, result.stderr)
    assert lead["scope"] == f"thread spinner of bnt-spin on node {instance}", lead
    assert "(process-exporter)" in lead["evidence"][0], lead
