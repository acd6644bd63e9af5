"""Nodes serving HTTPS with a server context (certificates from the emulator's CA)."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.tls import CertificateAuthority, system_names

DOMAIN = "hcp.example.com"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.open(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def hcp(authority: CertificateAuthority) -> Iterator[Emulator]:
    names = system_names(DOMAIN, {"dev": ["ns1", "versioned"]})
    context = authority.server_context(names, ["127.0.0.1"])
    with Emulator(address="127.0.0.1", port=0, ssl_context=context) as emulator:
        yield emulator


def https(hcp: Emulator, ca_file: Path) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(ca_file))
    return http.client.HTTPSConnection(hcp.addresses[0], hcp.port, timeout=10, context=context)


def test_requests_over_tls(hcp: Emulator, authority: CertificateAuthority) -> None:
    assert hcp.url.startswith("https://127.0.0.1:")
    conn = https(hcp, authority.ca_file)
    headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
    try:
        conn.request("PUT", "/rest/secure.txt", body=b"over tls", headers=headers)
        stored = conn.getresponse()
        assert (stored.status, stored.read()) == (201, b"")
        conn.request("GET", "/rest/secure.txt", headers=headers)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"over tls")
        conn.request("GET", "/proc", headers=headers)
        assert b'httpScheme="https"' in conn.getresponse().read()
    finally:
        conn.close()


def test_plain_http_to_a_tls_node_gets_no_answer(
    hcp: Emulator, authority: CertificateAuthority
) -> None:
    conn = http.client.HTTPConnection(hcp.addresses[0], hcp.port, timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/rest", headers={"Host": hcp.host})
            conn.getresponse()
    finally:
        conn.close()
    secure = https(hcp, authority.ca_file)
    try:
        secure.request(
            "GET", "/rest", headers={"Host": hcp.host, "Authorization": hcp.auth_header}
        )
        assert secure.getresponse().status == 200  # the node still serves TLS clients
    finally:
        secure.close()
