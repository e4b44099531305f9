"""Before any load: does the target answer one request, and is it on this host?"""

from __future__ import annotations

import ipaddress
import socket

import psutil
import pycurl

from bottlenecktop.probes.load.engines import curl_available
from bottlenecktop.probes.load.engines.curl import CurlEngine, classify_curl_error
from bottlenecktop.probes.load.target import BadTarget, build_target, parse_url


def _describe_connect_error(exc: BaseException, where: str) -> str:
    text = str(exc)
    lowered = text.lower()
    if "ssl" in lowered or "tls" in lowered or "certificate" in lowered or "wrong version" in lowered:
        return f"TLS handshake failed with {where}: {text}"
    if "refused" in lowered or "errno 111" in lowered:
        return f"connection refused at {where}"
    return f"cannot connect to {where}: {text or type(exc).__name__}"


def preflight(
    url: str, timeout: float = 3.0, insecure: bool = False, method: str = "GET", http2: bool = False
) -> str | None:
    """Send one request to ``url``; None if the target answers (any HTTP status), else one line saying why not.

    ``timeout`` is in seconds for the whole request. With ``http2`` the request goes over HTTP/2 through libcurl
    (h2 over TLS, prior knowledge over cleartext), as the ramp's requests will.
    """
    try:
        scheme, host, port, _ = parse_url(url)
    except BadTarget as exc:
        return str(exc)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"unknown host {host}"
    except UnicodeError:
        return f"malformed URL {url!r}: bad host name"
    if http2:
        if not curl_available():
            return "HTTP/2 needs pycurl: pip install pycurl"
        from bottlenecktop.probes.load.preflight import preflight_curl

        return preflight_curl(url, timeout=timeout, insecure=insecure, method=method, http2=True)
    import httpx  # only here: the driver process never needs it

    try:
        with httpx.Client(verify=not insecure, timeout=timeout, follow_redirects=False) as client:
            client.request(method, url, headers={"User-Agent": "bottlenecktop-preflight"})
    except httpx.TimeoutException:
        return f"no answer from {where} within {timeout:g} s"
    except httpx.ConnectError as exc:
        return _describe_connect_error(exc, where)
    except httpx.RemoteProtocolError as exc:
        if scheme == "https":
            return f"TLS handshake failed with {where}: {exc}"
        return f"{where} did not answer in HTTP: {exc}"
    except httpx.HTTPError as exc:
        return f"request to {where} failed: {exc}"
    except OSError as exc:
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return None


def _local_addresses() -> set[str]:
    addresses = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                addresses.add(entry.address.split("%", 1)[0])
    return addresses


def is_local_url(url: str) -> bool:
    """True when the URL's host resolves only to addresses of this host (loopback or a local interface)."""
    try:
        _, host, port, _ = parse_url(url)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (BadTarget, socket.gaierror, UnicodeError):
        return False
    local = _local_addresses()
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        ip = ipaddress.ip_address(address)
        if not (ip.is_loopback or ip.is_unspecified or address in local):
            return False
    return bool(infos)


def preflight_curl(
    url: str, *, timeout: float = 3.0, insecure: bool = False, method: str = "GET", http2: bool = True
) -> str | None:
    """One blocking request with libcurl; None if the target answers (any HTTP status), else one line why not.

    ``timeout`` is in seconds for the whole request.
    """
    try:
        target = build_target(url, method)
    except BadTarget as exc:
        return str(exc)
    engine = CurlEngine(target, timeout=timeout, max_connections=1, http2=http2, insecure=insecure)
    handle = engine._new_handle()
    try:
        handle.perform()
    except pycurl.error as exc:
        code, message = exc.args[0], str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        _, line = classify_curl_error(code, message, handle.getinfo(pycurl.OS_ERRNO), target, timeout)
        return line
    finally:
        handle.close()
        engine.multi.close()
    return None
