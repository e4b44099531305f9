"""What the driver sends and where: a URL checked into a host, a port, TLS settings and the request bytes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "bottlenecktop"


class BadTarget(ValueError):
    """A URL or request the driver cannot use; the message is one line meant for a person."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str  # http | https
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    method: str
    request: bytes  # the whole HTTP/1.1 request, built once and written as is for every request
    connect_host: str = ""  # the address resolved once before the run ("" = resolve ``host``); Host keeps the name

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def address(self) -> str:
        """What to connect to: the address resolved before the run, else the host name."""
        return self.connect_host or self.host

    @property
    def where(self) -> str:
        """host:port as a person writes it (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_url(url: str) -> tuple[str, str, int, str]:
    """Split an http(s) URL into (scheme, host, port, path-with-query); raise BadTarget with one line."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise BadTarget(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadTarget("malformed URL: the scheme must be http or https")
    if not host:
        raise BadTarget("malformed URL: no host")
    if port == 0:
        raise BadTarget("malformed URL: port 0 cannot be connected to")
    if port is None:
        port = 443 if scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def build_target(
    url: str, method: str = "GET", headers: tuple[tuple[str, str], ...] = (), body: bytes | None = None,
    connect_host: str | None = None,
) -> Target:
    """Check the URL and build the request bytes once (keep-alive HTTP/1.1); connect to ``connect_host`` (an
    address resolved once, before any request) when given. Raise BadTarget with one line."""
    scheme, host, port, path = parse_url(url)
    method = method.strip().upper()
    if not method.isalpha():
        raise BadTarget(f"bad HTTP method {method!r}")
    default_port = 443 if scheme == "https" else 80
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
    names = set()
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise BadTarget(f"bad header {name!r}: CR and LF would split the request")
        if not (name.isascii() and value.isascii() and name.isprintable() and value.replace("\t", " ").isprintable()):
            raise BadTarget(f"bad header {name[:60]!r}: only visible ASCII and spaces may be sent")
        names.add(name.lower())
        if name.lower() == "host":
            lines[1] = f"Host: {value}"
            continue
        lines.append(f"{name}: {value}")
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Target(url, scheme, host, port, path, method, head + (body or b""), connect_host or "")


def client_ssl_context(insecure: bool) -> ssl.SSLContext:
    """The TLS context of the driver; ``insecure`` skips certificate checks (self-signed test servers)."""
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
