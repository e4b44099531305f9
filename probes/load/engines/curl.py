"""The curl engine: libcurl's multi interface (pycurl) on the asyncio loop, for HTTP/2 (h2 over TLS, h2c with
prior knowledge over cleartext) and for anything else the fast engine does not speak.

It has the same surface as engines.fast.Engine (submit, set_concurrency, sweep, the hot path's ``tally``),
so the worker, the ramp and the stats do not know which engine runs. libcurl tells us which sockets to watch and
when to wake it (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); the loop watches them and calls
``socket_action``. One easy handle carries one request at a time; at most ``max_connections`` handles exist, so
at most that many requests are outstanding (over HTTP/2 they share as few connections as the server allows).
Requests that find no free handle wait in a FIFO, and their latency still counts from their intended time.
"""

from __future__ import annotations

import asyncio
import errno
import os
import ssl
import time
from typing import Any

import pycurl

from bottlenecktop.probes.load.engines.base import CLOSED_ERROR_PAUSE_S, EngineBase, status_class
from bottlenecktop.probes.load.target import USER_AGENT, Target

# libcurl error codes that pycurl does not name in every version.
_E_WEIRD_SERVER_REPLY = 8
_E_HTTP2_STREAM = 92
_TLS_ERRORS = frozenset(
    {
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_PEER_FAILED_VERIFICATION,
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CIPHER,
        pycurl.E_SSL_CACERT_BADFILE,
        pycurl.E_SSL_ISSUER_ERROR,
    }
)
_LOST_ERRORS = frozenset({pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR, pycurl.E_GOT_NOTHING})


def classify_curl_error(code: int, message: str, os_errno: int, target: Target, timeout: float) -> tuple[str, str]:
    """Map a failed transfer to (ERROR_CLASSES name, one line for a person) the way the fast engine does.

    ``code`` is libcurl's CURLcode, ``os_errno`` the errno of the last socket call (CURLINFO_OS_ERRNO), ``timeout``
    the request timeout in seconds.
    """
    where = target.where
    if code == pycurl.E_COULDNT_CONNECT:
        if os_errno == errno.ECONNREFUSED:
            return "refused", f"connection refused at {where}"
        if os_errno == errno.ETIMEDOUT:
            return "timeout", f"connect to {where} timed out after {timeout:g} s"
        if os_errno in (errno.EMFILE, errno.ENFILE):
            return "other", "the driver ran out of file descriptors (raise ulimit -n or lower max connections)"
        reason = os.strerror(os_errno) if os_errno else message
        return "other", f"cannot connect to {where}: {reason}"
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return "other", f"unknown host {target.host}"
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return "timeout", f"requests to {where} timed out after {timeout:g} s"
    if code in _TLS_ERRORS:
        return "other", f"TLS handshake failed with {where}: {message}"
    if code in _LOST_ERRORS:
        if os_errno == errno.ECONNRESET or code == pycurl.E_GOT_NOTHING:
            return "reset", f"connection reset by {where}"
        return "reset", f"connection to {where} lost: {message}"
    if code == _E_HTTP2_STREAM:
        return "reset", f"{where} reset an HTTP/2 stream: {message}"
    if code == pycurl.E_HTTP2:
        return "other", f"HTTP/2 error with {where}: {message}"
    if code == _E_WEIRD_SERVER_REPLY:
        return "other", f"the target sent a response that is not HTTP: {message}"
    return "other", f"request to {where} failed: {message}"


def ca_bundle() -> str | None:
    """The CA file to verify servers with: the system's (what Python's ssl uses), else certifi's, else None."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def count_sockets() -> int:
    """How many sockets this process has open (0 where /proc is not there)."""
    count = 0
    try:
        with os.scandir("/proc/self/fd") as entries:
            for entry in entries:
                try:
                    if os.readlink(entry.path).startswith("socket:"):
                        count += 1
                except OSError:  # closed while we looked
                    continue
    except OSError:
        return 0
    return count


class CurlEngine(EngineBase):
    """Sends requests with libcurl, counts what comes back into ``tally`` (taken by the controller)."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 5.0,
        max_connections: int = 256,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes | None = None,
        http2: bool = False,
        insecure: bool = False,
    ) -> None:
        self._init_books(timeout)
        self.target = target
        self.max_connections = max(1, max_connections)
        self.http2 = http2
        self.busy = 0
        self._closing = False
        self._checked_version = not http2
        self._options = self._handle_options(headers, body, insecure)
        self._handles: list[pycurl.Curl] = []
        self._idle: list[pycurl.Curl] = []
        self._active: set[pycurl.Curl] = set()
        self._watched: dict[int, int] = {}  # fd -> the POLL_* mask libcurl asked for
        self._baseline_sockets: int | None = None  # sockets of this process before the first request
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, self.max_connections)
        multi.setopt(pycurl.M_MAXCONNECTS, self.max_connections)  # keep every connection for reuse
        multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX if http2 else pycurl.PIPE_NOTHING)
        self.multi = multi

    # --- options, set once per handle (a handle is re-added as is for every request)

    def _handle_options(
        self, headers: tuple[tuple[str, str], ...], body: bytes | None, insecure: bool
    ) -> list[tuple[int, Any]]:
        target = self.target
        names = {name.lower() for name, _ in headers}
        lines = [f"{name}: {value}" for name, value in headers]
        lines.append("Expect:")  # no 100-continue round trip before a body
        if "content-type" not in names:
            lines.append("Content-Type:")  # curl would add a form type to POST; the fast engine adds none
        timeout_ms = max(1, int(self.timeout * 1000))
        if self.http2:
            version = pycurl.CURL_HTTP_VERSION_2TLS if target.tls else pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
        else:
            version = pycurl.CURL_HTTP_VERSION_1_1
        options: list[tuple[int, Any]] = [
            (pycurl.URL, target.url.strip()),
            (pycurl.HTTP_VERSION, version),
            (pycurl.HTTPHEADER, lines),
            (pycurl.TIMEOUT_MS, timeout_ms),
            (pycurl.CONNECTTIMEOUT_MS, timeout_ms),
            (pycurl.NOSIGNAL, 1),
            (pycurl.WRITEFUNCTION, len),  # the body is counted, not kept: len() is a C call that accepts it all
            (pycurl.FOLLOWLOCATION, 0),
            (pycurl.PROXY, ""),  # "" disables the proxy environment variables: the load goes to the target
        ]
        if target.connect_host and target.connect_host != target.host:  # the address resolved before the run
            address = f"[{target.connect_host}]" if ":" in target.connect_host else target.connect_host
            options.append((pycurl.RESOLVE, [f"{target.host}:{target.port}:{address}"]))
        if "user-agent" not in names:
            options.append((pycurl.USERAGENT, USER_AGENT))
        if self.http2:
            options.append((pycurl.PIPEWAIT, 1))  # wait to multiplex on a connection rather than open another
        method = target.method
        if method == "HEAD":
            options.append((pycurl.NOBODY, 1))
        elif body is not None or method in ("POST", "PUT", "PATCH"):
            options.append((pycurl.POSTFIELDSIZE, len(body or b"")))
            options.append((pycurl.COPYPOSTFIELDS, body or b""))
            if method != "POST":
                options.append((pycurl.CUSTOMREQUEST, method))
        elif method != "GET":
            options.append((pycurl.CUSTOMREQUEST, method))
        if target.tls:
            if insecure:
                options += [(pycurl.SSL_VERIFYPEER, 0), (pycurl.SSL_VERIFYHOST, 0)]
            else:
                bundle = ca_bundle()
                if bundle is not None:
                    options.append((pycurl.CAINFO, bundle))
        return options

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        for option, value in self._options:
            handle.setopt(option, value)
        handle.intended = 0.0
        handle.sent_at = 0.0
        self._handles.append(handle)
        return handle

    # --- what the pacer and the controller call

    @property
    def in_flight(self) -> int:
        return self.busy + len(self.queue)

    @property
    def connections(self) -> int:
        """Connections libcurl has open now (over HTTP/2 each carries many requests); costs a scan of the fds.

        libcurl does not tell us when it closes an idle connection (pycurl cannot run a close callback for a
        handle that is not in a transfer), so this counts the sockets the process gained since the first request.
        """
        if self._baseline_sockets is None:
            return 0
        return max(0, count_sockets() - self._baseline_sockets)

    def submit(self, intended: float, now: float) -> None:
        """One request meant to leave at ``intended`` (time.monotonic()); ``now`` is the time it is handed over."""
        self._count_offer(intended, now)
        if self._closing:
            return
        if self._baseline_sockets is None:
            self._baseline_sockets = count_sockets()
        if self._idle:
            self._send(self._idle.pop(), intended, now)
        elif len(self._handles) < self.max_connections:
            self._send(self._new_handle(), intended, now)
        else:
            self.queue.append(intended)

    def sweep(self, now: float) -> None:
        """Time out requests that waited for a free handle longer than the timeout (libcurl times out the rest)."""
        self._expire_queue(now)

    def outstanding_over(self, now: float, limit_s: float) -> int:
        """How many unfinished requests have waited longer than ``limit_s`` from their intended time."""
        oldest = now - limit_s
        return sum(1 for h in self._active if h.intended < oldest) + self._queued_over(now, limit_s)

    def outstanding_ages_us(self, now: float) -> list[int]:
        """How long each unfinished request has waited so far, from its intended time, in microseconds."""
        return [int((now - h.intended) * 1e6) for h in self._active] + self._queued_ages_us(now)

    def close(self) -> None:
        """Abort everything outstanding and free libcurl; the engine cannot be used afterwards."""
        if self._closing:
            return
        self._closing = True
        self.closed_n = 0
        self.queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for handle in list(self._active):
            self.multi.remove_handle(handle)
        self._active.clear()
        self._unwatch_all()
        for handle in self._handles:
            handle.close()  # closes its connections through _close_socket
        self._handles.clear()
        self._idle.clear()
        self.multi.close()
        self._unwatch_all()

    # --- the hot path

    def _send(self, handle: pycurl.Curl, intended: float, now: float) -> None:
        handle.intended = intended
        handle.sent_at = now
        self.busy += 1
        self.tally.sent += 1
        self._active.add(handle)
        self.multi.add_handle(handle)  # libcurl asks for a timer at 0 ms through _on_timer; the loop starts it

    def _action(self, fd: int, event: int) -> None:
        """The loop saw ``fd`` ready (or the timer ran out): let libcurl work, then collect finished transfers."""
        multi = self.multi
        try:
            while multi.socket_action(fd, event)[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
        except pycurl.error as exc:
            self.note(f"libcurl failed: {exc}")
        self._harvest()

    def _on_timeout(self) -> None:
        self._timer = None
        if not self._closing:
            self._action(pycurl.SOCKET_TIMEOUT, 0)

    def _harvest(self) -> None:
        multi = self.multi
        while True:
            queued, ok, failed = multi.info_read()
            try:
                for handle in ok:
                    self._done(handle, 0, "")
                for handle, code, message in failed:
                    self._done(handle, code, message)
            except Exception as exc:  # a bug here must show as one line, not stop the loop's callbacks quietly
                self.note(f"the curl engine failed: {type(exc).__name__}: {exc}")
            if not queued:
                return

    def _done(self, handle: pycurl.Curl, code: int, message: str) -> None:
        self.multi.remove_handle(handle)
        if handle not in self._active:
            return
        self._active.discard(handle)
        now = time.monotonic()
        self.busy -= 1
        tally = self.tally
        if code == 0:
            status = handle.getinfo(pycurl.RESPONSE_CODE)
            tally.bytes_in += int(handle.getinfo(pycurl.SIZE_DOWNLOAD)) + handle.getinfo(pycurl.HEADER_SIZE)
            if not self._checked_version:
                self._check_version(handle)
            lat = int((now - handle.intended) * 1e6)
            svc = int((now - handle.sent_at) * 1e6)
            tally.completed += 1
            tally.lat.append(lat)
            tally.svc.append(svc)
            if status < 400:
                tally.ok += 1
            else:
                cls = status_class(status)
                tally.errors[cls] = tally.errors.get(cls, 0) + 1
        else:
            cls, line = classify_curl_error(code, message, handle.getinfo(pycurl.OS_ERRNO), self.target, self.timeout)
            self.note(line)
            tally.fail(cls)
        self._idle.append(handle)
        if self._closing:
            return
        if code and self.closed_n:
            # A failed request in the closed model is retried after a pause, so that a dead target is not hammered.
            self._get_loop().call_later(CLOSED_ERROR_PAUSE_S, self._refill)
        else:
            self._next(now)

    def _next(self, now: float) -> None:
        """Give the oldest waiting request a free handle, or a new one in the closed model."""
        if self.queue:
            intended = self.queue.popleft()
            self._count_wait(intended, now)
            self._send(self._idle.pop(), intended, now)
        elif self.busy < self.closed_n:
            self.tally.offered += 1
            self._send(self._idle.pop(), now, now)

    def _refill(self) -> None:
        if not self._closing and self._idle:
            self._next(time.monotonic())

    def _check_version(self, handle: pycurl.Curl) -> None:
        """Say once when HTTP/2 was asked for and the server answered in something else."""
        self._checked_version = True
        try:
            version = handle.getinfo(pycurl.INFO_HTTP_VERSION)
        except (pycurl.error, ValueError):  # an old libcurl that cannot say
            return
        if version != pycurl.CURL_HTTP_VERSION_2_0:
            self.note(f"{self.target.where} answered in HTTP/1.1, not HTTP/2 (its TLS did not offer h2)")

    # --- libcurl's callbacks: they must never raise (pycurl would print a traceback and fail the transfer)

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _on_timer(self, timeout_ms: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout_ms >= 0 and not self._closing:
            loop = self._get_loop()
            if timeout_ms == 0:
                self._timer = loop.call_soon(self._on_timeout)  # type: ignore[assignment]
            else:
                self._timer = loop.call_later(timeout_ms / 1000.0, self._on_timeout)

    def _on_socket(self, what: int, fd: int, multi: object, data: object) -> None:
        if self._closing:
            return
        loop = self._get_loop()
        had = self._watched.get(fd, 0)
        if what == pycurl.POLL_REMOVE:
            want = 0
            self._watched.pop(fd, None)
        else:
            want = what & pycurl.POLL_INOUT
            self._watched[fd] = want
        if want & pycurl.POLL_IN and not had & pycurl.POLL_IN:
            loop.add_reader(fd, self._action, fd, pycurl.CSELECT_IN)
        elif had & pycurl.POLL_IN and not want & pycurl.POLL_IN:
            loop.remove_reader(fd)
        if want & pycurl.POLL_OUT and not had & pycurl.POLL_OUT:
            loop.add_writer(fd, self._action, fd, pycurl.CSELECT_OUT)
        elif had & pycurl.POLL_OUT and not want & pycurl.POLL_OUT:
            loop.remove_writer(fd)

    def _unwatch_all(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for fd in self._watched:
                loop.remove_reader(fd)
                loop.remove_writer(fd)
        self._watched.clear()
