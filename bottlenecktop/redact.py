"""Keep secrets out of recordings, verdicts and the terminal.

Redaction works from what was parsed (a URL, a header list, a body), never from command-line text: argparse
accepts spellings a pattern over argv misses (combined short flags, ``--header=``, a body that is a form). What is
kept is chosen by an allow-list: a header or a query parameter whose name is not plainly harmless loses its value.
Over-redacting costs a little detail in a recording; under-redacting leaks a credential into a file people copy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote_plus

REDACTED = "<redacted>"

# Headers whose values say how to talk, never who is talking.
SAFE_HEADERS = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "cache-control", "connection",
    "content-encoding", "content-language", "content-length", "content-type", "dnt", "expect", "host", "if-match",
    "if-modified-since", "if-none-match", "if-unmodified-since", "keep-alive", "origin", "pragma", "range",
    "te", "transfer-encoding", "upgrade", "user-agent", "x-requested-with",
})
# Query parameters that page, sort or format a response: their values cannot be credentials.
SAFE_QUERY_KEYS = frozenset({
    "page", "per_page", "page_size", "pagesize", "limit", "offset", "sort", "order", "format", "lang", "locale",
    "fields", "view", "size", "count",
})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_safe_header(name: str) -> bool:
    """True when the value of header ``name`` may be kept (an allow-list; anything else is redacted)."""
    return name.strip().lower() in SAFE_HEADERS


def is_secret_name(name: str) -> bool:
    """True unless ``name`` is a header or query key on the allow-lists (kept for callers of the old API)."""
    key = name.strip().lower()
    return key not in SAFE_HEADERS and key not in SAFE_QUERY_KEYS


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with every value outside the allow-list replaced by ``<redacted>`` (names and order kept)."""
    return [(name, value if is_safe_header(name) else REDACTED) for name, value in headers]


def describe_body(body: bytes | None) -> str | None:
    """A request body as what a reader may know of it: its size in bytes and its sha256, never its text."""
    if body is None:
        return None
    return f"<{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}>"


def _redact_query(query: str) -> str:
    """Each ``key=value`` keeps its value only when the key is on the allow-list; a bare word (``?TOKEN``) that
    is not on it goes whole."""
    out = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        safe = unquote_plus(key).strip().lower() in SAFE_QUERY_KEYS
        if safe or not part:
            out.append(part)
        else:
            out.append(f"{key}={REDACTED}" if eq else REDACTED)
    return "&".join(out)


def redact_url(url: str | None) -> str | None:
    """A URL without userinfo (``user:pw@`` becomes ``<redacted>@``), without the values of query parameters
    outside the allow-list, and without a fragment's text. Anything that does not look like ``scheme://`` is
    replaced whole: text that failed to parse as a URL may still hold a credential."""
    if url is None:
        return None
    if not _SCHEME.match(url):
        return url if not any(c in url for c in "@?#=") else REDACTED
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    tail, hash_, fragment = tail.partition("#")
    path, q, query = tail.partition("?")
    out = f"{scheme}://{netloc}{path}"
    if q:
        out += "?" + _redact_query(query)
    if hash_:
        out += "#" + (REDACTED if fragment else "")
    return out


def _redact_header_line(line: str) -> str:
    """``"Authorization: Bearer x"`` -> ``"Authorization: <redacted>"``; a line without a colon is redacted."""
    name, sep, _value = line.partition(":")
    if sep and is_safe_header(name):
        return line
    return f"{name.strip()}: {REDACTED}" if sep else REDACTED


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A second line of defence over command-line text (the first is building the line from the parsed
    options): the value after ``-H``/``--header`` keeps only an allow-listed header's value; any other argument
    that is not an option name, a plain word or a number is a URL (its secrets redacted) or is replaced whole.
    It over-redacts on purpose: ``-kH 'Cookie: x'`` or ``-HCookie:x`` lose the value."""
    out: list[str] = []
    previous = ""
    for arg in argv:
        if previous in ("-H", "--header"):
            out.append(_redact_header_line(arg))
        elif _OPTION_NAME.fullmatch(arg):
            out.append(arg)
        elif arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            out.append(f"{name}={_redact_header_line(value) if name == '--header' else _redact_value(name, value)}")
        else:
            out.append(_redact_value(previous, arg))
        previous = arg
    return out


_OPTION_NAME = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*")
_PLAIN = re.compile(r"[A-Za-z0-9_.+/-]{0,200}")  # words, numbers, paths; no : @ ? # = or spaces
_BODY = re.compile(r"<[0-9]+ bytes, sha256 [0-9a-f]{64}>")


# Options of ours whose values are numbers, names from a closed set or paths: never a secret.
_PLAIN_OPTIONS = frozenset({
    "--pid", "--max-time", "--slo-p99", "--max-error-rate", "--max-rps", "--goal-rps", "--interval", "--timeout",
    "--connections", "--start-rps", "--step-seconds", "-X", "--method", "--bottleneck", "--workers", "--work-ms",
    "--format", "--record", "--json", "-o", "--output",
})


def _redact_value(option: str, value: str) -> str:
    """An argument after ``option`` ("" or a positional's predecessor): kept when it is a plain word or number
    that follows one of our plain options or no option at all; a URL loses its secrets; anything else goes."""
    if _SCHEME.match(value):
        return redact_url(value) or ""
    if option == "--body":
        return value if _BODY.fullmatch(value) else REDACTED
    after_option = bool(_OPTION_NAME.fullmatch(option)) and option not in _PLAIN_OPTIONS and \
        option not in _FLAGS
    return value if _PLAIN.fullmatch(value) and not after_option else REDACTED


# Our options that take no value: what follows them is a positional argument.
_FLAGS = frozenset({
    "--headless", "--no-record", "--closed-model", "--http2", "-k", "--insecure", "-y", "--yes", "--version",
    "-h", "--help",
})
