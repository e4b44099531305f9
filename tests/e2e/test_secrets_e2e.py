"""A real headless ramp with secrets in every place a user puts them: none reaches the recording, the verdict
file, the report or the terminal, and the files are created 0600."""

from __future__ import annotations

import gzip
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.servers import CapacityServer

SECRETS = ("PW-91c2", "TOK-5d7e", "SIG-02aa", "KEY-88f1", "COOKIE-4b0c", "APIM-6e3d", "BODY-a1b2")


def test_no_secret_reaches_a_file_or_the_terminal(tmp_path: Path) -> None:
    rec, verdict = tmp_path / "r.btrec", tmp_path / "v.json"
    with CapacityServer(slots=4, work_ms=5) as server:
        url = (f"http://alice:{SECRETS[0]}@127.0.0.1:{server.port}/?access_token={SECRETS[1]}&sig={SECRETS[2]}"
               f"&key={SECRETS[3]}&page=2")
        result = subprocess.run(
            [sys.executable, "-m", "bottlenecktop", url, "-kH", f"Cookie: {SECRETS[4]}",
             f"--header=Ocp-Apim-Subscription-Key: {SECRETS[5]}", "--body", f"password={SECRETS[6]}", "-X", "POST",
             "--headless", "--max-time", "3", "--record", str(rec), "--json", str(verdict)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    assert verdict.exists() and rec.exists(), result.stderr
    report = subprocess.run([sys.executable, "-m", "bottlenecktop", "report", str(rec), "--format", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    places = {"stdout": result.stdout, "stderr": result.stderr, "verdict": verdict.read_text(),
              "recording": gzip.decompress(rec.read_bytes()).decode(), "report": report.stdout + report.stderr}
    leaks = [(where, s) for where, text in places.items() for s in SECRETS if s in text]
    assert leaks == [], leaks
    assert '"url": "http://<redacted>@127.0.0.1' in places["verdict"]
    assert "page=2" in places["verdict"], "harmless query values are kept"
    assert "ramping http://<redacted>@127.0.0.1" in result.stderr
    for path in (rec, verdict):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
