"""Connection pools, one per node: the only place that touches urllib3's pools.

A :class:`NodePool` sends one request to one node and hands back the response unread. The
default implementation wraps a urllib3 pool; tests give a target a factory of fakes instead.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection

from hcpfs.sdk.retry import WireBody

#: A socket option as ``setsockopt`` takes it: level, option, value.
SocketOption = tuple[int, int, int]

#: Bytes read from a file body per send: http.client's 8 KiB (urllib3's 16 KiB) would cost a
#: Python round per few kilobytes of a large upload.
SEND_BLOCKSIZE = 1024 * 1024


@dataclass(frozen=True)
class PoolSpec:
    """Everything needed to open connections to one node.

    :param address: the node's IP address
    :param port: the TCP port
    :param fqdn: the name the node serves, sent as SNI and checked in its certificate
    :param tls: whether to speak TLS
    :param ssl_context: the TLS settings (None without TLS)
    :param verify: whether the certificate is checked against ``fqdn``
    :param socket_options: socket options to set besides urllib3's defaults (keep-alive)
    :param maxsize: connections kept open to the node at most
    """

    address: str
    port: int
    fqdn: str
    tls: bool
    ssl_context: ssl.SSLContext | None
    verify: bool
    socket_options: tuple[SocketOption, ...] | None
    maxsize: int


class Reply(NamedTuple):
    """A response whose body is still to be read, and the seconds its connect took.

    ``connect_time`` is 0.0 when an open connection was reused.
    """

    response: BaseHTTPResponse
    connect_time: float


class NodePool(Protocol):
    """Sends requests to one node over the connections it keeps open."""

    def send(
        self,
        method: str,
        url: str,
        body: WireBody,
        headers: Mapping[str, str],
        timeout: Timeout,
    ) -> Reply:
        """Send one request without retrying or following redirects.

        :raises urllib3.exceptions.HTTPError: when the exchange fails
        """
        ...

    def close(self) -> None:
        """Close the idle connections and refuse further use."""
        ...


#: Builds the pool for one node.
PoolFactory = Callable[[PoolSpec], NodePool]


#: Stands for the length of a body that frames itself (:class:`_Chunked`) until the header is
#: sent, where it becomes ``Transfer-Encoding: chunked``.
_SELF_FRAMED = "chunked-by-the-body"


class _Chunked:
    """A body of unknown length as the pieces of ``Transfer-Encoding: chunked``.

    urllib3 frames such a body itself, but by formatting each piece into a new bytes object:
    a copy of every byte, made while holding the interpreter lock. The pieces here go to the
    socket as they are, between their framing lines.
    """

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if piece:
                yield b"%x\r\n" % len(piece)
                yield piece
                yield b"\r\n"
        yield b"0\r\n\r\n"


class _SelfFramingMixin:
    """Lets a :class:`_Chunked` body through urllib3 without its framing copy: the body is
    announced with a stand-in ``Content-Length``, so urllib3 sends the pieces unchanged, and
    that header goes out as ``Transfer-Encoding: chunked``."""

    def putheader(self, header: str | bytes, *values: Any) -> None:
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        if name.lower() == "content-length" and values == (_SELF_FRAMED,):
            super().putheader("Transfer-Encoding", "chunked")  # type: ignore[misc]
            return
        super().putheader(header, *values)  # type: ignore[misc]


class _TimedHTTPConnection(_SelfFramingMixin, HTTPConnection):
    connect_seconds = 0.0

    def connect(self) -> None:
        started = time.perf_counter()
        super().connect()
        self.connect_seconds = time.perf_counter() - started


class _TimedHTTPSConnection(_SelfFramingMixin, HTTPSConnection):
    connect_seconds = 0.0

    def connect(self) -> None:
        started = time.perf_counter()
        super().connect()
        self.connect_seconds = time.perf_counter() - started


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _TimedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TimedHTTPSConnection


class Urllib3Pool:
    """A :class:`NodePool` on a urllib3 connection pool.

    :param spec: the node and how to talk to it
    """

    def __init__(self, spec: PoolSpec) -> None:
        self._pool = _new_urllib3_pool(spec)

    def send(
        self,
        method: str,
        url: str,
        body: WireBody,
        headers: Mapping[str, str],
        timeout: Timeout,
    ) -> Reply:
        """Send one request; see :meth:`NodePool.send`."""
        headers = dict(headers)
        if _unframed(body, headers):
            body = _Chunked(body)  # type: ignore[arg-type]  # an iterable, as checked
            headers["Content-Length"] = _SELF_FRAMED
        response = self._pool.urlopen(
            method,
            url,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            decode_content=True,
        )
        return Reply(response, _take_connect_time(response))

    def close(self) -> None:
        """Close the idle connections; ones still lent to a response close when returned."""
        self._pool.close()


def _unframed(body: WireBody, headers: Mapping[str, str]) -> bool:
    """Tell a body of unknown length (an iterable of pieces) that nothing frames yet."""
    if body is None or isinstance(body, bytes) or hasattr(body, "read"):
        return False
    named = {name.lower() for name in headers}
    return "content-length" not in named and "transfer-encoding" not in named


def _new_urllib3_pool(spec: PoolSpec) -> HTTPConnectionPool:
    options = list(HTTPConnection.default_socket_options) + list(spec.socket_options or ())
    if not spec.tls:
        return _HTTPPool(
            spec.address,
            spec.port,
            maxsize=spec.maxsize,
            block=False,
            retries=False,
            socket_options=options,
            blocksize=SEND_BLOCKSIZE,
        )
    # The connection goes to a node address, but the certificate names the system: send the
    # name as SNI and check the certificate against it, not against the address.
    return _HTTPSPool(
        spec.address,
        spec.port,
        maxsize=spec.maxsize,
        block=False,
        retries=False,
        ssl_context=spec.ssl_context,
        server_hostname=spec.fqdn,
        assert_hostname=spec.fqdn if spec.verify else False,
        cert_reqs="CERT_REQUIRED" if spec.verify else "CERT_NONE",
        socket_options=options,
        blocksize=SEND_BLOCKSIZE,
    )


def _take_connect_time(response: BaseHTTPResponse) -> float:
    # The figure belongs to the request that opened the connection; zero it so a later request
    # reusing the connection reports no connect time.
    connection = response.connection
    if not isinstance(connection, (_TimedHTTPConnection, _TimedHTTPSConnection)):
        return 0.0
    seconds = connection.connect_seconds
    connection.connect_seconds = 0.0
    return seconds


def default_ssl_context(cafile: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """Build the TLS settings used when the caller gives none.

    :param cafile: a PEM file of CA certificates to trust instead of the system's
    :param verify: check certificates (the default); False turns checking off
    """
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile)
