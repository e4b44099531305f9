"""Which engine carries the requests: the fast one (HTTP/1.1 and TLS) or libcurl's (HTTP/2, and on request).

Both have the surface of ``LoadEngine``, which is all the worker, the pacer and the benchmark use.
"""

from __future__ import annotations

import importlib.util
import ssl
from typing import Protocol

from probes.load_config import DriverConfig
from probes.load_engine import Engine
from probes.load_stats import Tally
from probes.load_target import Target, client_ssl_context


class LoadEngine(Protocol):
    iv: Tally  # this second
    st: Tally  # the judged window of the step
    closed_n: int  # closed model: requests kept outstanding (0: open model)

    @property
    def busy(self) -> int: ...  # requests on the wire

    @property
    def in_flight(self) -> int: ...  # on the wire plus waiting for a connection

    @property
    def connections(self) -> int: ...

    def submit(self, intended: float, now: float) -> None: ...

    def set_concurrency(self, n: int) -> None: ...

    def sweep(self, now: float) -> None: ...

    def outstanding_ages_us(self, now: float) -> list[int]: ...

    def drop_queue(self) -> None: ...

    def take_events(self) -> list[str]: ...

    def close(self) -> None: ...


def curl_available() -> bool:
    """True when pycurl (libcurl) can be imported."""
    return importlib.util.find_spec("pycurl") is not None


def engine_name(config: DriverConfig) -> str:
    """``fast`` or ``curl``: what ``auto`` means for these options (HTTP/2 needs curl)."""
    if config.engine == "auto":
        return "curl" if config.http2 else "fast"
    return config.engine


def make_engine(config: DriverConfig, target: Target) -> LoadEngine:
    """The engine the options ask for, for ``target`` (built from the same options)."""
    if engine_name(config) == "curl":
        from probes.load_curl import CurlEngine  # only when asked: the fast path never loads libcurl

        return CurlEngine(
            target,
            timeout=config.timeout,
            max_connections=config.max_connections,
            headers=config.headers,
            body=config.body,
            http2=config.http2,
            insecure=config.insecure,
        )
    context: ssl.SSLContext | None = client_ssl_context(config.insecure) if target.tls else None
    return Engine(target, timeout=config.timeout, max_connections=config.max_connections, ssl_context=context)
