"""A throwaway nginx for the driver's HTTP/2 tests: its own config, certificate, logs and ports, on 127.0.0.1.

Ports: ``h2c`` speaks HTTP/2 over cleartext with prior knowledge (nginx's ``listen ... http2`` without ssl),
``h2`` HTTP/2 or HTTP/1.1 over TLS (ALPN), ``tls1`` only HTTP/1.1 over TLS. The TLS ports exist when a
certificate could be made (the ``openssl`` command, or the ``cryptography`` package). Every request is logged
with ``$server_protocol`` so that a test can see how the requests arrived. With ``upstream`` set, nginx passes
requests on to that HTTP/1.1 server (so a CapacityServer sets the capacity); otherwise it answers "ok" itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port

CONF = """{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  log_format proto '$server_port $server_protocol $request_method $status';
  access_log {d}/access.log proto;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  ssl_certificate {d}/cert.pem;
  ssl_certificate_key {d}/key.pem;
  {upstream}
  {servers}
}}
"""
SERVER = "server {{ {listen} location / {{ {location} }} }}"


@dataclass
class Nginx:
    directory: Path
    h2c: int
    h2: int | None
    tls1: int | None

    def protocols(self, port: int) -> dict[str, int]:
        """How many requests arrived on ``port``, by $server_protocol ("HTTP/2.0", "HTTP/1.1")."""
        counts: dict[str, int] = {}
        log = self.directory / "access.log"
        if not log.exists():
            return counts
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == str(port):
                counts[fields[1]] = counts.get(fields[1], 0) + 1
        return counts

    def methods(self, port: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in (self.directory / "access.log").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == str(port):
                counts[fields[2]] = counts.get(fields[2], 0) + 1
        return counts


def make_certificate(directory: Path) -> bool:
    """A self-signed certificate for 127.0.0.1 into cert.pem and key.pem; False when nothing can make one."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if shutil.which("openssl"):
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        command += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"]
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=30,
        )
        return result.returncode == 0
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return False
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def nginx(directory: Path, upstream: int | None = None, timeout: float = 10.0) -> Iterator[Nginx]:
    """Run nginx in the foreground from ``directory`` until the block ends (then stop it)."""
    tls = make_certificate(directory)
    ports = {"h2c": free_port(), "h2": free_port(), "tls1": free_port()}
    if upstream is not None:
        upstream_block = f"upstream target {{ server 127.0.0.1:{upstream}; keepalive 64; }}"
        location = 'proxy_pass http://target; proxy_http_version 1.1; proxy_set_header Connection "";'
    else:
        upstream_block, location = "", 'return 200 "ok\\n";'
    d = str(directory)
    servers = [SERVER.format(listen=f"listen 127.0.0.1:{ports['h2c']} http2;", location=location)]
    if tls:
        servers.append(SERVER.format(listen=f"listen 127.0.0.1:{ports['h2']} ssl http2;", location=location))
        servers.append(SERVER.format(listen=f"listen 127.0.0.1:{ports['tls1']} ssl;", location=location))
    conf = CONF.format(
        user="user root;\n" if os.geteuid() == 0 else "",
        d=d,
        upstream=upstream_block,
        servers="\n  ".join(servers),
    )
    (directory / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        ["nginx", "-c", str(directory / "nginx.conf"), "-p", d, "-e", str(directory / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wanted = [ports["h2c"], *((ports["h2"], ports["tls1"]) if tls else ())]
        deadline = time.monotonic() + timeout
        while not all(_listening(port) for port in wanted):
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=5) if proc.poll() is not None else ("", "")
                raise RuntimeError(f"nginx did not start: {err.strip()[-300:]}")
            time.sleep(0.05)
        yield Nginx(directory, ports["h2c"], ports["h2"] if tls else None, ports["tls1"] if tls else None)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
