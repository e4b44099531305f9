"""Before any load: does the target answer one request, and is it on this host?"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from types import TracebackType
from typing import Any, NamedTuple

import psutil
import pycurl

from bottlenecktop.probes.load.engines import curl_available
from bottlenecktop.probes.load.engines.curl import CurlEngine, classify_curl_error
from bottlenecktop.probes.load.target import BadTarget, build_target, parse_url

# Bytes of the first response's body the preflight reads (its memory holds one read of it at a time). The body
# only has to start arriving: a bigger page is fine, and the rest of it is never read.
BODY_CAP = 64 * 1024


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
    address: str | None = None, trust_env: bool = False, body_cap: int = BODY_CAP,
) -> str | None:
    """Send one request to ``url``; None if the target answers (any HTTP status), else one line saying why not.

    ``timeout`` (seconds) is a deadline for the whole exchange: connect, TLS, the request, the response headers and
    the part of the body that is read; a server that trickles bytes cannot stretch it. The answer needs the status
    line and all the headers; of the body only the first ``body_cap`` bytes are read (then the connection is
    closed: a big or endless page is accepted), or the whole body when it is shorter. Past the deadline the line
    says what was still missing (the headers, or the rest of the body after so many bytes).

    With ``http2`` the request goes over HTTP/2 through libcurl (h2 over TLS, prior knowledge over cleartext), as
    the ramp's requests will. ``address`` is the one the host was resolved to (``resolve``): the request connects
    there and the Host header keeps the name. Proxy environment variables are ignored unless ``trust_env``: the
    preflight must reach what the driver will.
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
        return preflight_curl(url, timeout=timeout, insecure=insecure, method=method, http2=True, address=address,
                              body_cap=body_cap)
    import httpx  # only here: the driver process never needs it

    default_port = 443 if scheme == "https" else 80
    host_header = (f"[{host}]" if ":" in host else host) + (f":{port}" if port != default_port else "")
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    watchdog = _Watchdog(timeout)
    extensions: dict[str, Any] = {"trace": watchdog.trace}
    if scheme == "https":
        extensions["sni_hostname"] = host
    received = 0
    try:
        with watchdog, httpx.Client(verify=not insecure, timeout=timeout, follow_redirects=False,
                                    trust_env=trust_env) as client:
            with client.stream(method, f"{scheme}://{netloc}{path}", extensions=extensions,
                               headers={"User-Agent": "bottlenecktop-preflight", "Host": host_header}) as response:
                for chunk in response.iter_raw():  # raw: counted, never decoded nor kept
                    received += len(chunk)
                    if received >= body_cap:
                        break
            watchdog.stop()
    except (httpx.HTTPError, OSError) as exc:
        # httpx's own timeouts are per read; one that fires here is the deadline all the same
        if watchdog.fired or isinstance(exc, httpx.TimeoutException):
            return _deadline_problem(watchdog.phase, timeout, where, received)
        return _describe_failure(exc, scheme, where)
    if watchdog.fired:  # a body that ends at the close of the connection ends alike when the watchdog shuts it
        return _deadline_problem(watchdog.phase, timeout, where, received)
    return None


def _describe_failure(exc: Exception, scheme: str, where: str) -> str:
    """The line for a first request that failed before its deadline (an httpx error or an OSError)."""
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return _describe_connect_error(exc, where)
    if isinstance(exc, httpx.RemoteProtocolError):
        if scheme == "https":
            return f"TLS handshake failed with {where}: {exc}"
        return f"{where} did not answer in HTTP: {exc}"
    if isinstance(exc, httpx.HTTPError):
        return f"request to {where} failed: {exc}"
    return f"cannot connect to {where}: {getattr(exc, 'strerror', None) or exc}"


def _deadline_problem(phase: str, timeout: float, where: str, received: int) -> str:
    """The line for a first request that hit its deadline of ``timeout`` seconds in ``phase`` (_PHASES)."""
    if phase == "connect":
        return f"no answer from {where} within {timeout:g} s"
    missing = {
        "tls": f"the TLS handshake with {where} had not finished",
        "send": "the request was still being sent",
        "headers": "the server had not finished sending its headers",
        "body": f"its body was still arriving after {received} bytes",
    }[phase]
    return f"the first request did not finish within {timeout:g} s ({missing})"


# httpx's trace events (httpcore's names) that start a phase of the exchange
_PHASES = {
    "connection.start_tls.started": "tls",
    "http11.send_request_headers.started": "send",
    "http11.receive_response_headers.started": "headers",
    "http11.receive_response_headers.complete": "body",
}


class _Watchdog:
    """The deadline of the first request over httpx: at ``seconds`` it shuts the connection down.

    httpx's timeouts are per operation, so a server that sends a byte now and then never trips them; a shut
    down socket wakes the blocked read at once, and the request fails. The socket comes from httpx's ``trace``
    request extension (which also says which phase the exchange is in); the watchdog shuts down its own
    duplicate of it, so it never touches a descriptor that httpx closed and the process reused.
    """

    def __init__(self, seconds: float) -> None:
        self.phase = "connect"
        self.fired = False  # the deadline passed before stop()
        self._sock: socket.socket | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def stop(self) -> None:
        """The exchange is over: from now on the deadline changes nothing."""
        self._timer.cancel()
        with self._lock:
            self._stopped = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's trace callback (runs in the request's thread)."""
        with self._lock:
            if self.fired:  # the phase the deadline found is the one to tell
                if event == "connection.connect_tcp.complete":
                    self._take_socket(info)
                    self._shutdown()
                return
            self.phase = _PHASES.get(event, self.phase)
            if event == "connection.connect_tcp.complete":
                self._take_socket(info)

    def _take_socket(self, info: dict[str, Any]) -> None:
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket) and self._sock is None and not self._stopped:
            self._sock = sock.dup()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer: nothing to wake
                self._sock.shutdown(socket.SHUT_RDWR)


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
    address: str | None = None, body_cap: int = BODY_CAP,
) -> str | None:
    """One blocking request with libcurl; None if the target answers (any HTTP status), else one line why not.

    ``timeout`` (seconds) is a deadline for the whole exchange (libcurl's CURLOPT_TIMEOUT), and the body is
    read as in ``preflight``: its first ``body_cap`` bytes at most, counted and dropped.
    """
    try:
        target = build_target(url, method, connect_host=address)
    except BadTarget as exc:
        return str(exc)
    engine = CurlEngine(target, timeout=timeout, max_connections=1, http2=http2, insecure=insecure)
    handle = engine._new_handle()
    progress = _CurlProgress(body_cap)
    handle.setopt(pycurl.HEADERFUNCTION, progress.header)
    handle.setopt(pycurl.WRITEFUNCTION, progress.write)
    try:
        handle.perform()
    except pycurl.error as exc:
        code, message = exc.args[0], str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code == pycurl.E_WRITE_ERROR and progress.capped:
            return None  # stopped reading at the cap, after a whole set of headers: an answer
        if code == pycurl.E_OPERATION_TIMEDOUT:
            phase = progress.phase(handle, target.tls)
            if phase != "connect":
                return _deadline_problem(phase, timeout, target.where, progress.received)
        _, line = classify_curl_error(code, message, handle.getinfo(pycurl.OS_ERRNO), target, timeout)
        return line
    finally:
        handle.close()
        engine.multi.close()
    return None


class _CurlProgress:
    """How far libcurl got with the first response: its headers and the bytes of body counted (none kept)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap  # bytes of body to read at most
        self.status = 0
        self.header_lines = 0
        self.headers_done = False
        self.received = 0  # bytes of body
        self.capped = False

    def header(self, line: bytes) -> None:
        self.header_lines += 1
        if line.startswith(b"HTTP/"):  # a status line: a 1xx answer is followed by another one
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.headers_done = False
        elif not line.strip() and self.status >= 200:
            self.headers_done = True

    def write(self, data: bytes) -> int | None:
        self.received += len(data)
        if self.received >= self.cap:
            self.capped = True
            return 0  # not len(data): libcurl ends the transfer (CURLE_WRITE_ERROR)
        return None  # all taken

    def phase(self, handle: pycurl.Curl, tls: bool) -> str:
        """Where the exchange was when it stopped (_deadline_problem's phases)."""
        if self.headers_done or self.received:
            return "body"
        if self.header_lines:
            return "headers"
        if handle.getinfo(pycurl.CONNECT_TIME) <= 0:
            return "connect"
        if tls and handle.getinfo(pycurl.APPCONNECT_TIME) <= 0:
            return "tls"
        return "headers"
