"""HTTPS on every node with certificates from the emulator's CA, next to plain HTTP."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from urllib3.exceptions import MaxRetryError, SSLError

from hcpfs.emulator import Emulator

DEADLINE = 10.0
BASE = "127.0.0.31"


@pytest.fixture(scope="module")
def hcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Three nodes with HTTP, HTTPS and the management API over HTTPS."""
    before = set(threading.enumerate())
    tls_dir = tmp_path_factory.mktemp("tls")
    with Emulator(nodes=3, address_base=BASE, tls=True, tls_dir=tls_dir, management=True) as hcp:
        yield hcp
    # The hash pool of the blobs module is shared by the whole process, not the emulator's.
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    left = [name for name in left if not name.startswith("hcp-hash")]
    assert left == []


def pool(
    hcp: Emulator, address: str, server_name: str, ca_file: Path | None, port: int | None = None
) -> urllib3.HTTPSConnectionPool:
    """A pool that connects to a node address and verifies the certificate for a name."""
    return urllib3.HTTPSConnectionPool(
        address,
        port or hcp.https_port,
        server_hostname=server_name,
        assert_hostname=server_name,
        ca_certs=None if ca_file is None else str(ca_file),
        cert_reqs="CERT_REQUIRED",
        timeout=DEADLINE,
        retries=False,
    )


def test_the_ca_file_is_kept_in_the_tls_directory(hcp: Emulator) -> None:
    assert hcp.ca_file is not None and hcp.ca_file.is_file()
    assert hcp.ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert hcp.https_port not in (None, hcp.port, hcp.mapi_port)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_https_with_the_namespace_name_verifies_on_every_node(hcp: Emulator, index: int) -> None:
    headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
    with pool(hcp, hcp.addresses[index], hcp.host, hcp.ca_file) as https:
        stored = https.request("PUT", f"/rest/tls/{index}.txt", body=b"secret", headers=headers)
        assert stored.status == 201
        read = https.request("GET", f"/rest/tls/{index}.txt", headers=headers)
        assert (read.status, read.data) == (200, b"secret")


def test_every_namespace_and_tenant_name_is_in_the_certificate(hcp: Emulator) -> None:
    headers = {"Authorization": hcp.auth_header}
    for name in ("versioned.dev.hcp.example.com", "dev.hcp.example.com", hcp.admin_host):
        with pool(hcp, hcp.addresses[0], name, hcp.ca_file) as https:
            response = https.request("GET", "/rest/", headers={**headers, "Host": name})
        # The handshake verified; the namespace answers, the other hosts refuse on this port.
        assert response.status == (200 if name.startswith("versioned.") else 403), name


def test_verification_without_the_ca_fails(hcp: Emulator) -> None:
    with pool(hcp, hcp.addresses[0], hcp.host, None) as https, pytest.raises(SSLError):
        https.request("GET", "/rest/", headers={"Host": hcp.host})


def test_a_name_outside_the_system_fails_verification(hcp: Emulator) -> None:
    other = pool(hcp, hcp.addresses[0], "ns1.dev.example.org", hcp.ca_file)
    with other as https, pytest.raises((SSLError, MaxRetryError)):
        https.request("GET", "/rest/", headers={"Host": hcp.host})


def test_plain_http_stays_available_on_its_own_port(hcp: Emulator) -> None:
    with pool(hcp, hcp.addresses[1], hcp.host, hcp.ca_file) as https:
        headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
        assert https.request("PUT", "/rest/both.txt", body=b"x", headers=headers).status == 201
    conn = http.client.HTTPConnection(hcp.addresses[2], hcp.port, timeout=DEADLINE)
    try:
        conn.request("GET", "/rest/both.txt", headers=headers)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"x")
        conn.request("GET", "/proc", headers=headers)
        assert b'httpScheme="https"' in conn.getresponse().read()
    finally:
        conn.close()


def test_the_management_port_speaks_tls_only(hcp: Emulator) -> None:
    assert hcp.mapi_port is not None
    headers = {"Host": hcp.admin_host, "Authorization": hcp.management_auth_header}
    path = "/mapi/services/replication"
    with pool(hcp, hcp.addresses[0], hcp.admin_host, hcp.ca_file, hcp.mapi_port) as https:
        response = https.request("GET", path, headers=headers)
    assert response.status == 200
    assert b"<replicationService>" in response.data
    conn = http.client.HTTPConnection(hcp.addresses[0], hcp.mapi_port, timeout=DEADLINE)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", path, headers=headers)
            conn.getresponse()
    finally:
        conn.close()


def test_a_node_taken_down_closes_every_port(hcp: Emulator) -> None:
    node = hcp.take_down(2)
    try:
        for port in (hcp.port, hcp.https_port, hcp.mapi_port):
            assert port is not None
            conn = http.client.HTTPConnection(node.address, port, timeout=DEADLINE)
            with pytest.raises(ConnectionRefusedError):
                conn.connect()
    finally:
        hcp.bring_up(2)
    context = ssl.create_default_context(cafile=str(hcp.ca_file))
    with context.wrap_socket(_connect(node.address, hcp.https_port), server_hostname=hcp.host):
        pass  # the handshake succeeds again


def _connect(address: str, port: int | None) -> socket.socket:
    assert port is not None
    return socket.create_connection((address, port), timeout=DEADLINE)
