"""A private certificate authority that lets the emulator's nodes speak HTTPS.

HCP serves each namespace on its own host name (``<namespace>.<tenant>.<domain>``), so a node's
certificate needs wildcard names: ``*.<domain>`` covers ``admin`` and the tenant hosts, and one
``*.<tenant>.<domain>`` per tenant covers its namespaces (a wildcard matches one label only).
Clients trust the emulator by loading :attr:`CertificateAuthority.ca_file`.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
# The CA outlives many emulator runs when its directory is kept; server certificates are
# issued again whenever a node starts, so a year is plenty.
_CA_VALIDITY = datetime.timedelta(days=3650)
_SERVER_VALIDITY = datetime.timedelta(days=365)
# Starting validity a little in the past tolerates clocks that disagree slightly.
_BACKDATE = datetime.timedelta(hours=1)
_MAX_COMMON_NAME = 64


class CertificateAuthority:
    """A CA certificate and its key, kept as PEM files in one directory.

    Build one with :meth:`create`, :meth:`load` or :meth:`open`.

    :param directory: where ``ca.pem``, ``ca-key.pem`` and the issued certificates live
    :param certificate: the CA certificate
    :param key: the CA's private key
    """

    def __init__(
        self, directory: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> None:
        self._directory = directory
        self._certificate = certificate
        self._key = key
        # Held while a certificate and its key are written and read back, so two threads that
        # issue for the same names never pair one's certificate with the other's key.
        self._files_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"CertificateAuthority({str(self._directory)!r})"

    @classmethod
    def create(
        cls, directory: Path, common_name: str = "hcpfs emulator CA"
    ) -> CertificateAuthority:
        """Make a new CA and write ``ca.pem`` and ``ca-key.pem`` (mode 0600) into ``directory``.

        :param directory: created if missing; must not hold a CA already
        :param common_name: the CA's subject name, as clients will show it
        :raises FileExistsError: ``directory`` already holds a CA certificate
        """
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / CA_FILE).exists():
            raise FileExistsError(f"{directory / CA_FILE} exists; load it instead")
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            _builder(name, name, key.public_key(), _CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        # The key goes first: a directory that has ca.pem always has its key too.
        _write(directory / CA_KEY_FILE, _key_pem(key), private=True)
        _write(directory / CA_FILE, certificate.public_bytes(serialization.Encoding.PEM))
        log.info("created certificate authority %r in %s", common_name, directory)
        return cls(directory, certificate, key)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """Read the CA that :meth:`create` wrote into ``directory``.

        :param directory: the directory holding ``ca.pem`` and ``ca-key.pem``
        :raises FileNotFoundError: one of the two files is missing
        :raises ValueError: the files cannot be read or the key does not match the certificate
        """
        certificate = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        key = serialization.load_pem_private_key(
            (directory / CA_KEY_FILE).read_bytes(), password=None
        )
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / CA_KEY_FILE} does not hold an EC private key")
        if key.public_key() != certificate.public_key():
            raise ValueError(f"{directory / CA_KEY_FILE} is not the key of {CA_FILE}")
        return cls(directory, certificate, key)

    @classmethod
    def open(cls, directory: Path) -> CertificateAuthority:
        """Load the CA in ``directory`` if there is one, else create it there.

        :param directory: the directory to keep the CA in
        """
        if (directory / CA_FILE).exists():
            return cls.load(directory)
        return cls.create(directory)

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that clients load to trust the emulator."""
        return self._directory / CA_FILE

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self._certificate

    def issue(
        self, dns_names: Sequence[str], ip_addresses: Sequence[str] = ()
    ) -> tuple[Path, Path]:
        """Issue a server certificate valid for a year and write it and its key (mode 0600).

        A certificate for the same names replaces the previous one in the CA's directory.
        Threads may share one instance; separate processes should not issue for the same
        names in the same directory at the same time.

        :param dns_names: host names, wildcards such as ``*.hcp.example.com`` allowed
        :param ip_addresses: IP addresses the certificate is also valid for
        :return: the certificate file and the key file
        :raises ValueError: no name and no address is given, or an address is not an IP
        """
        ips = [ipaddress.ip_address(address) for address in ip_addresses]
        if not dns_names and not ips:
            raise ValueError("a server certificate needs at least one name or address")
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._sign_server_certificate(key.public_key(), dns_names, ips)

        stem = "server-" + _digest([*dns_names, *ip_addresses])
        cert_file = self._directory / f"{stem}.pem"
        key_file = self._directory / f"{stem}-key.pem"
        with self._files_lock:
            _write(key_file, _key_pem(key), private=True)
            _write(cert_file, certificate.public_bytes(serialization.Encoding.PEM))
        log.debug("issued %s for %d names and %d addresses", cert_file, len(dns_names), len(ips))
        return cert_file, key_file

    def _sign_server_certificate(
        self,
        public_key: ec.EllipticCurvePublicKey,
        dns_names: Sequence[str],
        ips: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
    ) -> x509.Certificate:
        san = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ip) for ip in ips]
        subject = _server_subject([*dns_names, *(str(ip) for ip in ips)])
        issuer_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key())
        server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        return (
            _builder(self._certificate.subject, subject, public_key, _SERVER_VALIDITY)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(server_auth, critical=False)
            .add_extension(issuer_key_id, critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def server_context(
        self, dns_names: Sequence[str], ip_addresses: Sequence[str] = ()
    ) -> ssl.SSLContext:
        """Issue a certificate and return a TLS server context that presents it.

        :param dns_names: host names, as for :meth:`issue`
        :param ip_addresses: IP addresses, as for :meth:`issue`
        :return: a context for ``context.wrap_socket(sock, server_side=True)``
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with self._files_lock:
            cert_file, key_file = self.issue(dns_names, ip_addresses)
            context.load_cert_chain(cert_file, key_file)
        return context


def system_names(domain: str, tenants: Mapping[str, Iterable[str]]) -> list[str]:
    """List the DNS names a certificate for every host of an HCP system must cover.

    :param domain: the system's domain, e.g. ``hcp.example.com``
    :param tenants: the tenant names (each with its namespaces, which the wildcards cover)
    :return: the domain, ``*.<domain>`` and ``*.<tenant>.<domain>`` for each tenant
    """
    domain = domain.lower().rstrip(".")
    names = [domain, f"*.{domain}"]
    names += [f"*.{tenant}.{domain}" for tenant in sorted({t.lower() for t in tenants})]
    return names


def _builder(
    issuer: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    validity: datetime.timedelta,
) -> x509.CertificateBuilder:
    """Start a certificate with the fields every certificate made here shares."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _server_subject(names: Sequence[str]) -> x509.Name:
    """Name the certificate after its first name; clients check the SANs, not this."""
    first = names[0]
    if len(first) > _MAX_COMMON_NAME:
        first = "hcpfs emulator server"
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])


def _digest(names: Sequence[str]) -> str:
    """A short stable file-name part for a set of names, whatever their order."""
    joined = "\n".join(sorted(name.lower() for name in names))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Replace ``path`` atomically, so a reader never sees half a file.

    The temporary file is created with mode 0600, so a key is never readable by others, not
    even for a moment; a certificate is made world-readable before it takes its final name.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            if not private:
                os.fchmod(stream.fileno(), 0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
