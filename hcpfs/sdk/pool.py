"""Connection pools, one per node: the only place that touches urllib3's pools.

A :class:`NodePool` sends one request to one node and hands back the response unread. The
default implementation wraps a urllib3 pool; tests give a target a factory of fakes instead.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

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


class _TimedHTTPConnection(HTTPConnection):
    connect_seconds = 0.0

    def connect(self) -> None:
        started = time.perf_counter()
        super().connect()
        self.connect_seconds = time.perf_counter() - started


class _TimedHTTPSConnection(HTTPSConnection):
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
        response = self._pool.urlopen(
            method,
            url,
            body=body,
            headers=dict(headers),
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
