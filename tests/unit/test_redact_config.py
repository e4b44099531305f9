"""Secrets are redacted from the parsed options, so no spelling argparse accepts carries one into a recording."""

from __future__ import annotations

import hashlib

import pytest

from bottlenecktop.app.cli import parse_args
from bottlenecktop.app.live import command_line
from bottlenecktop.errors import BadInput
from bottlenecktop.redact import REDACTED, describe_body, redact_argv, redact_headers, redact_url

SECRET = "sekrit-7f3a"


@pytest.mark.parametrize("url", [
    f"http://alice:{SECRET}@127.0.0.1:1/",
    f"http://{SECRET}@127.0.0.1:1/",
    f"http://127.0.0.1:1/?access_token={SECRET}",
    f"http://127.0.0.1:1/?key={SECRET}&sig={SECRET}&code={SECRET}",
    f"http://127.0.0.1:1/p?x={SECRET}#{SECRET}",
    f"http://127.0.0.1:1/?{SECRET}",
    f"https://a:b@[::1]:1/?t={SECRET}",
    f"not a url but has @{SECRET}",
])
def test_urls_keep_no_userinfo_and_no_query_values_outside_the_allow_list(url: str) -> None:
    out = redact_url(url) or ""
    assert SECRET not in out, out
    assert redact_url(out) == out  # redacting twice changes nothing (the recording writer redacts again)


def test_harmless_query_keys_keep_their_values() -> None:
    assert redact_url("http://h:1/x?page=2&limit=10&token=t") == f"http://h:1/x?page=2&limit=10&token={REDACTED}"


def test_header_values_are_kept_only_on_the_allow_list() -> None:
    got = redact_headers([("Ocp-Apim-Subscription-Key", SECRET), ("X-Functions-Key", SECRET), ("X-Whatever", SECRET),
                          ("Accept", "application/json"), ("content-type", "text/plain"), ("User-Agent", "ua")])
    assert got == [("Ocp-Apim-Subscription-Key", REDACTED), ("X-Functions-Key", REDACTED), ("X-Whatever", REDACTED),
                   ("Accept", "application/json"), ("content-type", "text/plain"), ("User-Agent", "ua")]


def test_a_body_is_its_size_and_hash() -> None:
    body = f"password={SECRET}".encode()
    assert describe_body(body) == f"<{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}>"


@pytest.mark.parametrize("argv", [
    ["http://127.0.0.1:1/", "-kH", f"Cookie: {SECRET}"],
    ["http://127.0.0.1:1/", f"-HCookie: {SECRET}"],
    ["http://127.0.0.1:1/", f"--header=Ocp-Apim-Subscription-Key: {SECRET}"],
    ["http://127.0.0.1:1/", "-H", f"X-Functions-Key: {SECRET}"],
    ["http://127.0.0.1:1/", "--body", f"password={SECRET}", "-X", "POST"],
    [f"http://u:{SECRET}@127.0.0.1:1/?code={SECRET}", "--headless"],
])
def test_the_recorded_command_line_is_built_from_the_parsed_options(argv: list[str]) -> None:
    config = parse_args(argv)
    line = command_line(config, config.url)
    assert not any(SECRET in a for a in line), line
    assert not any(SECRET in a for a in redact_argv(line)), "the writer's second pass keeps it safe"
    assert redact_argv(line) == line, "the second pass has nothing left to do"


def test_the_raw_argv_second_pass_over_redacts_combined_flags() -> None:
    out = redact_argv(["bottlenecktop", "http://127.0.0.1:1/", "-kH", f"Cookie: {SECRET}", "--token", SECRET,
                       "-kH", SECRET, "--max-time", "3"])
    assert not any(SECRET in a for a in out), out
    assert out[-2:] == ["--max-time", "3"]


def test_abbreviated_options_are_refused_without_echoing_their_value() -> None:
    with pytest.raises(BadInput) as err:
        parse_args(["http://127.0.0.1:1/", "--heade", f"Authorization: {SECRET}"])
    assert "unrecognized arguments" in str(err.value)
    assert SECRET not in str(err.value)
