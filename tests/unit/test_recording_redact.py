"""Secrets in headers, command lines and URLs never reach a recording."""

from __future__ import annotations

import gzip
from pathlib import Path

from bottlenecktop.recording import RecordingWriter, read_recording
from bottlenecktop.redact import REDACTED, redact_argv, redact_headers, redact_url
from bottlenecktop.session import Frame, Target
from tests.support.recording_synth import header


def test_secret_headers_are_redacted_and_others_kept() -> None:
    got = redact_headers([("Authorization", "Bearer abc"), ("Cookie", "sid=1"), ("Proxy-Authorization", "x"),
                          ("X-Api-Key", "k"), ("X-Auth-Token", "t"), ("X-Client-Secret", "s"),
                          ("Accept", "text/html"), ("User-Agent", "bt")])
    assert got == [("Authorization", REDACTED), ("Cookie", REDACTED), ("Proxy-Authorization", REDACTED),
                   ("X-Api-Key", REDACTED), ("X-Auth-Token", REDACTED), ("X-Client-Secret", REDACTED),
                   ("Accept", "text/html"), ("User-Agent", "bt")]


def test_argv_forms() -> None:
    argv = ["bottlenecktop", "http://127.0.0.1:8000/", "-H", "Authorization: Bearer sekrit", "-HCookie: sid=sekrit",
            "--header", "cookie:sekrit", "--header=X-Api-Key: sekrit", "-H", "Accept: */*", "--headless",
            "-u", "bob:sekrit", "--token", "sekrit", "--api-key=sekrit", "--max-time=30"]
    out = redact_argv(argv)
    assert not any("sekrit" in a for a in out), out
    assert out == ["bottlenecktop", "http://127.0.0.1:8000/", "-H", f"Authorization: {REDACTED}",
                   REDACTED, "--header", f"cookie: {REDACTED}", f"--header=X-Api-Key: {REDACTED}",
                   "-H", "Accept: */*", "--headless", "-u", REDACTED, "--token", REDACTED,
                   f"--api-key={REDACTED}", "--max-time=30"]


def test_urls_lose_passwords_and_secret_query_values() -> None:
    # userinfo goes whole (a user name can be a token); query values stay only for allow-listed keys
    assert redact_url("http://bob:pw@127.0.0.1:8000/x?page=1&token=t") == (
        f"http://{REDACTED}@127.0.0.1:8000/x?page=1&token={REDACTED}")
    assert redact_url("http://127.0.0.1:8000/x?limit=1") == "http://127.0.0.1:8000/x?limit=1"
    assert redact_argv(["http://u:pw@h/"]) == [f"http://{REDACTED}@h/"]


def test_authorization_and_cookie_never_reach_the_file(tmp_path: Path) -> None:
    argv = ["bottlenecktop", "http://u:pw-sekrit@127.0.0.1:8000/?session=sekrit", "-H", "Authorization: sekrit",
            "--header", "Cookie: sekrit"]
    path = tmp_path / "r.jsonl.gz"
    with RecordingWriter(path, header(command_line=argv, target=Target(url=argv[1]))) as w:
        w.append(Frame(t=1.0))
    text = gzip.decompress(path.read_bytes())
    assert b"sekrit" not in text
    rec = read_recording(path)
    assert rec.header.command_line[3] == f"Authorization: {REDACTED}"  # written by a caller that forgot
    assert rec.header.command_line[5] == f"Cookie: {REDACTED}"
    assert "sekrit" not in (rec.header.target.url or "")
