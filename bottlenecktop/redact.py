"""Keep secrets out of recordings: header values, command-line arguments and URLs that carry credentials."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

# Header (and query parameter, and option) names whose values are secrets. Over-redacting a harmless header
# costs a little detail in a recording; under-redacting leaks a credential into a file people copy around.
_SECRET_NAME = re.compile(
    r"auth|cookie|token|secret|passw|api[-_]?key|apikey|session|credential|signature|private|bearer",
    re.IGNORECASE,
)
_HEADER_OPTIONS = ("-H", "--header")
# Options whose value is a secret in itself (curl-like spellings people reuse): user:password, a cookie jar.
_SECRET_OPTIONS = ("-u", "--user", "-b", "--cookie", "--proxy-user", "-U")


def is_secret_name(name: str) -> bool:
    """True when a header, option or query parameter named ``name`` carries a secret."""
    return bool(_SECRET_NAME.search(name))


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with every secret value replaced by ``<redacted>`` (names kept, order kept)."""
    return [(name, REDACTED if is_secret_name(name) else value) for name, value in headers]


def _redact_header_line(line: str) -> str:
    """``"Authorization: Bearer x"`` -> ``"Authorization: <redacted>"``; a line without a colon is kept."""
    name, sep, _value = line.partition(":")
    if sep and is_secret_name(name.strip()):
        return f"{name}: {REDACTED}"
    return line


def redact_url(url: str) -> str:
    """A URL without its password (``user:pw@host``) and without the values of secret query parameters."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with secrets replaced by ``<redacted>``.

    Handles ``-H 'Authorization: x'``, ``-H'Authorization: x'``, ``--header 'Cookie: x'``,
    ``--header=Cookie: x``, ``-u user:pw``, ``--token x`` / ``--api-key=x`` and URLs with credentials.
    """
    out: list[str] = []
    pending: str | None = None  # what the previous option says the next argument is: "header" | "secret"
    for arg in argv:
        if pending == "header":
            out.append(_redact_header_line(arg))
            pending = None
            continue
        if pending == "secret":
            out.append(REDACTED)
            pending = None
            continue
        if arg in _HEADER_OPTIONS:
            pending = "header"
            out.append(arg)
        elif arg.startswith("--header="):
            out.append("--header=" + _redact_header_line(arg[len("--header="):]))
        elif arg.startswith("-H") and not arg.startswith("--"):
            out.append("-H" + _redact_header_line(arg[2:]))
        elif arg in _SECRET_OPTIONS:
            pending = "secret"
            out.append(arg)
        elif arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            out.append(f"{name}={REDACTED}" if is_secret_name(name[2:]) else f"{name}={redact_url(value)}")
        elif arg.startswith("--") and is_secret_name(arg[2:]):
            pending = "secret"
            out.append(arg)
        else:
            out.append(redact_url(arg))
    return out
