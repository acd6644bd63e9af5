"""Certificate authority files and certificate contents, without any socket."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from hcpfs.emulator.tls import CA_FILE, CA_KEY_FILE, CertificateAuthority, system_names


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_system_names_cover_domain_admin_tenants_and_namespaces() -> None:
    names = system_names("HCP.Example.com", {"dev": ["ns1"], "Europe": [], "prod": ["a", "b"]})
    assert names == [
        "hcp.example.com",
        "*.hcp.example.com",
        "*.dev.hcp.example.com",
        "*.europe.hcp.example.com",
        "*.prod.hcp.example.com",
    ]


def test_system_names_without_tenants() -> None:
    assert system_names("hcp.example.com.", {}) == ["hcp.example.com", "*.hcp.example.com"]


def test_create_writes_the_ca_and_a_private_key(tmp_path: Path) -> None:
    authority = CertificateAuthority.create(tmp_path / "new", common_name="test CA")
    assert authority.ca_file == tmp_path / "new" / CA_FILE
    assert mode(tmp_path / "new" / CA_KEY_FILE) == 0o600
    certificate = read_certificate(authority.ca_file)
    assert certificate.subject.rfc4514_string() == "CN=test CA"
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert sorted(path.name for path in (tmp_path / "new").iterdir()) == [CA_KEY_FILE, CA_FILE]


def test_create_refuses_to_replace_an_existing_ca(tmp_path: Path) -> None:
    CertificateAuthority.create(tmp_path)
    with pytest.raises(FileExistsError):
        CertificateAuthority.create(tmp_path)


def test_load_gives_the_same_ca(tmp_path: Path) -> None:
    created = CertificateAuthority.create(tmp_path)
    assert CertificateAuthority.load(tmp_path).certificate == created.certificate


def test_load_without_a_ca_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CertificateAuthority.load(tmp_path)


def test_load_rejects_a_key_of_another_ca(tmp_path: Path) -> None:
    CertificateAuthority.create(tmp_path / "a")
    CertificateAuthority.create(tmp_path / "b")
    (tmp_path / "a" / CA_KEY_FILE).write_bytes((tmp_path / "b" / CA_KEY_FILE).read_bytes())
    with pytest.raises(ValueError, match="not the key"):
        CertificateAuthority.load(tmp_path / "a")


def test_open_creates_once_then_loads(tmp_path: Path) -> None:
    first = CertificateAuthority.open(tmp_path / "data")
    second = CertificateAuthority.open(tmp_path / "data")
    assert second.certificate == first.certificate


def test_issued_certificate_names_validity_and_signature(tmp_path: Path) -> None:
    authority = CertificateAuthority.create(tmp_path)
    names = system_names("hcp.example.com", {"dev": ["ns1"]})
    cert_file, key_file = authority.issue(names, ip_addresses=["127.0.0.2", "::1"])

    assert mode(key_file) == 0o600
    certificate = read_certificate(cert_file)
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == names
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.2"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=365) <= lifetime <= datetime.timedelta(days=366)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    certificate.verify_directly_issued_by(authority.certificate)


def test_issue_for_the_same_names_replaces_the_files(tmp_path: Path) -> None:
    authority = CertificateAuthority.create(tmp_path)
    first = authority.issue(["a.example.com", "b.example.com"])
    second = authority.issue(["b.example.com", "a.example.com"])
    other = authority.issue(["c.example.com"])
    assert second == first
    assert other != first


def test_issue_needs_a_name_or_an_address(tmp_path: Path) -> None:
    authority = CertificateAuthority.create(tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        authority.issue([])
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        authority.issue(["a.example.com"], ip_addresses=["node1"])


def test_long_first_name_still_gives_a_certificate(tmp_path: Path) -> None:
    long_name = ".".join(["x" * 60, "y" * 60, "example.com"])
    cert_file, _ = CertificateAuthority.create(tmp_path).issue([long_name])
    san = read_certificate(cert_file).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == [long_name]
