"""Loopback HTTP relays for transport tests: a TLS front with a self-signed certificate, and a forward proxy.

Both pass each request on to a plain-http loopback server (Azurite, the loopback Twilio server) and
record what they relayed, so a test can see that a call went through them, with real TLS and real
proxying in the SDKs' transports.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "content-length"}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "loopback.pem", directory / "loopback.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RelayServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _relay(self) -> None:
        target = self.server.backend
        path = self.path
        if target is None:  # a forward proxy: the request line holds the absolute URL
            parts = urlsplit(self.path)
            target = (parts.hostname or "", parts.port or 80)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.server.relayed.append((self.command, self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(*target, timeout=30)
        try:
            upstream.request(self.command, path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_MERGE = _relay


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: tuple[str, int] | None) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.backend = backend
        self.relayed: list[tuple[str, str]] = []  # (method, request target) of every request relayed

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextmanager
def _serving(server: _RelayServer) -> Iterator[_RelayServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def forward_proxy() -> Iterator[_RelayServer]:
    """An HTTP forward proxy on loopback (plain-http targets only: no CONNECT)."""
    with _serving(_RelayServer(None)) as server:
        yield server


@contextmanager
def tls_front(backend_port: int) -> Iterator[tuple[_RelayServer, Path]]:
    """HTTPS on loopback in front of http://127.0.0.1:backend_port: (server, its certificate's PEM path)."""
    with tempfile.TemporaryDirectory(prefix="tls-front-") as directory:
        cert, key = self_signed_certificate(Path(directory))
        server = _RelayServer(("127.0.0.1", backend_port))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        with _serving(server):
            yield server, cert
