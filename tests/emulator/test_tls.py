"""The emulator's certificate authority, checked by real HTTPS requests on loopback."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from hcpfs.emulator.tls import CertificateAuthority, system_names

DOMAIN = "hcp.example.com"
TENANTS = {"dev": ["ns1", "ns2"], "prod": ["data"]}
NODE = "127.0.0.2"


class _Hello(http.server.BaseHTTPRequestHandler):
    timeout = 5.0

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HttpsServer(http.server.ThreadingHTTPServer):
    # Handler threads are joined on close, so nothing outlives the test.
    daemon_threads = False
    block_on_close = True


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def serve_https(context: ssl.SSLContext) -> Iterator[int]:
    """Serve ``_Hello`` over HTTPS on NODE; yield the port, always stop the server."""
    server = _HttpsServer((NODE, 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)


@pytest.fixture
def port(authority: CertificateAuthority) -> Iterator[int]:
    yield from serve_https(authority.server_context(system_names(DOMAIN, TENANTS)))


def get(port: int, hostname: str, ca_file: Path | None) -> int:
    """GET / from NODE, verifying the certificate for ``hostname``; return the status."""
    pool = urllib3.HTTPSConnectionPool(
        NODE,
        port,
        cert_reqs="CERT_REQUIRED",
        ca_certs=None if ca_file is None else str(ca_file),
        server_hostname=hostname,
        assert_hostname=hostname,
        timeout=urllib3.Timeout(5.0),
        retries=False,
    )
    with pool:
        return pool.request("GET", "/", headers={"Host": hostname}).status


@pytest.mark.parametrize(
    "hostname",
    [f"ns1.dev.{DOMAIN}", f"data.prod.{DOMAIN}", f"admin.{DOMAIN}", f"dev.{DOMAIN}", DOMAIN],
)
def test_system_hosts_verify_with_the_ca_file(
    authority: CertificateAuthority, port: int, hostname: str
) -> None:
    assert get(port, hostname, authority.ca_file) == 200


def test_verification_fails_without_the_ca_file(port: int) -> None:
    with pytest.raises(urllib3.exceptions.SSLError, match="certificate verify failed"):
        get(port, f"ns1.dev.{DOMAIN}", None)


@pytest.mark.parametrize(
    "hostname",
    [
        "ns1.other.example.org",
        f"ns1.qa.{DOMAIN}",  # a tenant the certificate was not issued for
        f"a.ns1.dev.{DOMAIN}",  # a wildcard covers one label only
    ],
)
def test_verification_fails_for_names_not_covered(
    authority: CertificateAuthority, port: int, hostname: str
) -> None:
    with pytest.raises(urllib3.exceptions.SSLError, match="match"):
        get(port, hostname, authority.ca_file)


def test_certificate_from_another_ca_is_refused(tmp_path: Path, port: int) -> None:
    stranger = CertificateAuthority.create(tmp_path / "stranger")
    with pytest.raises(urllib3.exceptions.SSLError, match="certificate verify failed"):
        get(port, f"ns1.dev.{DOMAIN}", stranger.ca_file)


def test_ip_address_in_the_certificate_verifies(authority: CertificateAuthority) -> None:
    context = authority.server_context([f"admin.{DOMAIN}"], ip_addresses=[NODE])
    for port in serve_https(context):
        assert get(port, NODE, authority.ca_file) == 200


def test_loaded_ca_verifies_what_the_created_one_issued(tmp_path: Path) -> None:
    created = CertificateAuthority.create(tmp_path / "ca")
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.certificate == created.certificate
    assert loaded.ca_file == created.ca_file
    # A restarted emulator issues with the loaded CA; old clients keep trusting it.
    for port in serve_https(loaded.server_context(system_names(DOMAIN, TENANTS))):
        assert get(port, f"ns1.dev.{DOMAIN}", created.ca_file) == 200
