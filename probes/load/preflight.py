"""Before any load: does the target answer one request, and is it on this host?"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

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


class Resolved(NamedTuple):
    """The one name lookup of a run: where the URL's host is, and whether that is this host."""

    host: str  # the name in the URL
    port: int
    address: str  # the first address the lookup gave: the preflight and the driver connect to it
    local: bool  # every address the lookup gave belongs to this host


def resolve(url: str) -> Resolved:
    """Look the URL's host up once; raise BadTarget with one line when the URL or the name does not work.

    Deciding "local" and connecting must use one answer: a name that resolves again later may answer
    differently (a DNS rebinding turns a consented local run into load on someone else)."""
    _, host, port, _ = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise BadTarget(f"unknown host {host[:200]}") from None
    except (UnicodeError, ValueError):
        raise BadTarget("malformed URL: bad host name") from None
    if not infos:
        raise BadTarget(f"unknown host {host[:200]}")
    local_addresses = _local_addresses()
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    local = all(_is_local(a, local_addresses) for a in addresses)
    return Resolved(host, port, str(infos[0][4][0]), local)


def _is_local(address: str, local_addresses: set[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or ip.is_unspecified or address in local_addresses


def preflight(
    url: str, timeout: float = 3.0, insecure: bool = False, method: str = "GET", http2: bool = False,
    address: str | None = None, trust_env: bool = False,
) -> str | None:
    """Send one request to ``url``; None if the target answers (any HTTP status), else one line saying why not.

    ``timeout`` is in seconds for the whole request. With ``http2`` the request goes over HTTP/2 through libcurl
    (h2 over TLS, prior knowledge over cleartext), as the ramp's requests will. ``address`` is the one the host
    was resolved to (``resolve``): the request connects there and the Host header keeps the name. Proxy
    environment variables are ignored unless ``trust_env``: the preflight must reach what the driver will.
    """
    try:
        scheme, host, port, path = parse_url(url)
        if address is None:
            address = resolve(url).address
    except BadTarget as exc:
        return str(exc)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if http2:
        if not curl_available():
            return "HTTP/2 needs pycurl: pip install pycurl"
        return preflight_curl(url, timeout=timeout, insecure=insecure, method=method, http2=True, address=address)
    import httpx  # only here: the driver process never needs it

    default_port = 443 if scheme == "https" else 80
    host_header = (f"[{host}]" if ":" in host else host) + (f":{port}" if port != default_port else "")
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        with httpx.Client(verify=not insecure, timeout=timeout, follow_redirects=False,
                          trust_env=trust_env) as client:
            client.request(method, f"{scheme}://{netloc}{path}", extensions=extensions,
                           headers={"User-Agent": "bottlenecktop-preflight", "Host": host_header})
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
        return resolve(url).local
    except BadTarget:
        return False


def preflight_curl(
    url: str, *, timeout: float = 3.0, insecure: bool = False, method: str = "GET", http2: bool = True,
    address: str | None = None,
) -> str | None:
    """One blocking request with libcurl; None if the target answers (any HTTP status), else one line why not.

    ``timeout`` is in seconds for the whole request.
    """
    try:
        target = build_target(url, method, connect_host=address)
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
