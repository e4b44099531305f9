"""Exporter and Prometheus addresses: the page to fetch, and the instance name a person reads (no userinfo)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class AddressError(ValueError):
    """A URL that cannot name an exporter or a Prometheus server."""


def split(url: str, default_path: str) -> tuple[str, str]:
    """(URL to fetch, instance "host:port"). A bare "host:port" means http; an empty path means DEFAULT_PATH."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError(f"not an http(s) URL of an exporter: {shown(url)}")
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"bad port in {shown(url)}") from exc
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    instance = f"{host}:{port}" if port else host
    path = parts.path if parts.path not in ("", "/") else default_path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, "")), instance


def shown(url: str) -> str:
    """The URL as said on the terminal or in a recording: user and password left out."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
