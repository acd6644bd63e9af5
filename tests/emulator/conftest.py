"""One emulator per test module on loopback, reset before each test, and a raw HTTP client.

Tests speak plain HTTP through :class:`Client` (http.client underneath), never through the
hcpfs SDK, so they check the emulator against the protocol rather than against our client.
Test modules get the client from the ``client`` fixture and import the class for annotations
only.
"""

from __future__ import annotations

import http.client
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.credentials import hcp_token

DEADLINE = 10.0


@dataclass
class Reply:
    """A response, read completely."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the first value of response header ``name``."""
        value: str | None = self.headers.get(name)
        return value

    def xml(self) -> ET.Element:
        """Parse the body as XML."""
        return ET.fromstring(self.body)


class Client:
    """Raw HTTP/1.1 requests with keep-alive to one node of an emulator.

    :param hcp: the emulator
    :param address: the node address (default: the first node)
    """

    def __init__(self, hcp: Emulator, address: str | None = None) -> None:
        self.hcp = hcp
        self.address = address or hcp.addresses[0]
        self.conn = http.client.HTTPConnection(self.address, hcp.port, timeout=DEADLINE)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        host: str | None = None,
        auth: str | None = "default",
    ) -> Reply:
        """Send one request; ``auth`` is an Authorization value, ``"default"`` or ``None``."""
        sent = {"Host": host or self.hcp.host}
        if auth == "default":
            sent["Authorization"] = self.hcp.auth_header
        elif auth is not None:
            sent["Authorization"] = auth
        sent.update(headers or {})
        self.conn.request(method, path, body=body, headers=sent)
        response = self.conn.getresponse()
        data = response.read()
        return Reply(response.status, response.headers, data)

    def put(self, path: str, data: bytes = b"data", **kwargs: object) -> Reply:
        """PUT ``data`` to ``path`` (a ``/rest`` URL)."""
        return self.request("PUT", path, data, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @staticmethod
    def token(user: str, password: str) -> str:
        """Return an ``Authorization`` value for a user."""
        return "HCP " + hcp_token(user, password)

    def raw(self, data: bytes, *, half_close: bool = False) -> bytes:
        """Send raw bytes on a new connection; return all the server sends until it closes
        or goes quiet."""
        with socket.create_connection((self.address, self.hcp.port), timeout=DEADLINE) as sock:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            return read_until_quiet(sock)


def read_until_quiet(sock: socket.socket, quiet: float = 0.5) -> bytes:
    """Read until the peer closes, or sends nothing for ``quiet`` seconds."""
    parts = []
    deadline = time.monotonic() + DEADLINE
    sock.settimeout(quiet)
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        if not piece:
            break
        parts.append(piece)
    return b"".join(parts)


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """An emulator with the default configuration for the whole module."""
    with Emulator(address="127.0.0.1", port=0) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    """Reset the module's emulator before each test that uses it."""
    if "hcp" in request.fixturenames:
        emulator: Emulator = request.getfixturevalue("hcp")
        emulator.reset()


@pytest.fixture
def connect(hcp: Emulator) -> Iterator[Callable[[str], Client]]:
    """Make clients for given node addresses; all are closed after the test."""
    made: list[Client] = []

    def make(address: str) -> Client:
        made.append(Client(hcp, address))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(hcp: Emulator) -> Iterator[Client]:
    """A keep-alive connection to the first node."""
    result = Client(hcp)
    yield result
    result.close()
