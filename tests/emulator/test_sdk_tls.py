"""hcpfs.sdk over TLS against emulator nodes with certificates from the emulator's own
certificate authority (docs/sdk.md, "TLS")."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

import hcpfs.sdk as hcpsdk
from hcpfs.emulator import Emulator
from hcpfs.emulator.tls import CertificateAuthority

MakeTarget = Callable[..., hcpsdk.Target]


class ServerNames:
    """The server names (SNI) clients asked the nodes for, in the order they came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: list[str | None] = []

    def __call__(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        with self._lock:
            self._names.append(name)

    def seen(self) -> list[str | None]:
        with self._lock:
            return list(self._names)

    def forget(self) -> None:
        with self._lock:
            self._names.clear()


@pytest.fixture(scope="module")
def server_names() -> ServerNames:
    return ServerNames()


@pytest.fixture(scope="module")
def cluster(server_names: ServerNames) -> Iterator[Emulator]:
    """Two nodes serving HTTPS; the server names clients send are recorded."""
    with Emulator(nodes=2, address_base="127.0.0.81", tls=True) as hcp:
        for node in hcp.nodes:
            https = node.listener("https")
            assert https is not None and https.ssl_context is not None
            https.ssl_context.sni_callback = server_names
        yield hcp


@pytest.fixture
def ca_file(cluster: Emulator) -> str:
    assert cluster.ca_file is not None
    return str(cluster.ca_file)


@pytest.fixture
def targets(cluster: Emulator, server_names: ServerNames) -> Iterator[MakeTarget]:
    """Make targets for the HTTPS port on the cluster's node list; every one is closed after
    the test."""
    cluster.reset()
    server_names.forget()
    made: list[hcpsdk.Target] = []
    assert cluster.https_port is not None
    port = cluster.https_port

    def make(fqdn: str | None = None, **options: Any) -> hcpsdk.Target:
        auth = hcpsdk.NativeAuthorization(cluster.user, cluster.password)
        made.append(
            hcpsdk.Target(
                fqdn or cluster.host,
                auth,
                port=port,
                tls=True,
                lookup=lambda name: cluster.addresses,
                **options,
            )
        )
        return made[-1]

    try:
        yield make
    finally:
        for target in made:
            target.close()


def test_certificates_verify_with_the_emulators_ca_file(
    cluster: Emulator, ca_file: str, server_names: ServerNames, targets: MakeTarget
) -> None:
    target = targets(cafile=ca_file)
    assert (target.ssl, target.verify) == (True, True)
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/tls/hello.txt", body=b"over TLS")
        con.read()
        assert con.response_status == 201
        for _ in cluster.addresses:
            con.GET("/rest/tls/hello.txt")
            assert con.read() == b"over TLS"
            # The connection went to a node address ...
            assert con.address in cluster.addresses
    # ... and the name sent was the namespace's, on each node.
    assert server_names.seen() == [cluster.host] * len(cluster.addresses)


def test_without_the_ca_file_the_certificate_error_reaches_the_caller(
    cluster: Emulator, targets: MakeTarget
) -> None:
    target = targets()
    with hcpsdk.Connection(target) as con, pytest.raises(hcpsdk.HcpsdkCertificateError) as err:
        con.HEAD("/rest")
    assert err.value.node in cluster.addresses
    assert err.value.url == "/rest"
    assert isinstance(err.value.__cause__, Exception)
    # Every node shares the certificate: the SDK does not try the others, nor avoid the node.
    assert target.circle.healthy() == cluster.addresses


def test_a_ca_that_did_not_sign_the_certificate_is_refused(
    cluster: Emulator, targets: MakeTarget, tmp_path: Path
) -> None:
    stranger = CertificateAuthority.create(tmp_path / "other-ca")
    with (
        hcpsdk.Connection(targets(cafile=str(stranger.ca_file))) as con,
        pytest.raises(hcpsdk.HcpsdkCertificateError),
    ):
        con.HEAD("/rest")


def test_the_certificate_is_checked_against_the_name_not_the_address(
    cluster: Emulator, ca_file: str, server_names: ServerNames, targets: MakeTarget
) -> None:
    # The certificate holds the node addresses too: only a check of the name can fail.
    other = "ns1.dev.hcp.other.example.com"
    target = targets(other, cafile=ca_file)
    with hcpsdk.Connection(target) as con, pytest.raises(hcpsdk.HcpsdkCertificateError):
        con.HEAD("/rest")
    assert con.address is None
    assert server_names.seen() == [other]


def test_verification_can_be_turned_off_with_a_warning(
    cluster: Emulator, targets: MakeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hcpfs.sdk")
    fqdn = "versioned.dev.hcp.example.com"
    target = targets(fqdn, verify=False)
    assert target.verify is False
    with (
        hcpsdk.Connection(target) as con,
        pytest.warns(urllib3.exceptions.InsecureRequestWarning),
    ):
        con.HEAD("/rest")
        con.read()
        assert con.response_status == 200
    warnings = [r.getMessage() for r in caplog.records if "NOT verified" in r.getMessage()]
    assert warnings == [f"TLS certificates of {fqdn}:{cluster.https_port} are NOT verified"]


def test_an_ssl_context_given_by_the_caller_is_used(
    cluster: Emulator, ca_file: str, targets: MakeTarget
) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    target = targets(sslcontext=context)
    assert target.sslcontext is context
    with hcpsdk.Connection(target) as con:
        con.HEAD("/rest")
        con.read()
        assert con.response_status == 200
