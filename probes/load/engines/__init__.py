"""Which engine carries the requests: the fast one (HTTP/1.1 and TLS) or libcurl's (HTTP/2, and on request).

Both have the surface of ``LoadEngine``, which is all the worker, the pacer and the benchmark use.
"""

from __future__ import annotations

import importlib.util
import ssl

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.engines.fast import Engine
from bottlenecktop.probes.load.engines.protocol import LoadEngine
from bottlenecktop.probes.load.target import Target, client_ssl_context


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
        from bottlenecktop.probes.load.engines.curl import (
            CurlEngine,  # only when asked: the fast path never loads libcurl
        )

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
