"""Fake node pools for testing code that uses the SDK without any network.

Give a :class:`FakeNodes` to :class:`~hcpfs.sdk.target.Target` as ``pool_factory`` and a
``lookup`` that returns addresses; every request then goes to ``FakeNodes.handler``, which
answers with :func:`respond` or raises one of the urllib3 errors :func:`refused`,
:func:`timed_out`, :func:`broken` build. Requests are recorded, bodies included.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from urllib3 import BaseHTTPResponse, HTTPResponse, Timeout
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection

from hcpfs.sdk.pool import PoolSpec, Reply
from hcpfs.sdk.retry import WireBody


@dataclass
class FakeRequest:
    """One request as a fake node received it."""

    address: str
    port: int
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: Timeout

    @property
    def path(self) -> str:
        """The URL without its query string."""
        return self.url.partition("?")[0]

    @property
    def query(self) -> str:
        """The query string, without ``?``."""
        return self.url.partition("?")[2]


#: Answers a request with a response, or raises to fail it.
Handler = Callable[[FakeRequest], BaseHTTPResponse]


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    reason: str = "",
) -> HTTPResponse:
    """Build an unread response, as a pool returns it.

    :param status: the HTTP status
    :param body: the body
    :param headers: the headers; ``Content-Length`` is added
    :param reason: the reason phrase
    """
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    return HTTPResponse(
        body=io.BytesIO(body),
        headers=all_headers,
        status=status,
        reason=reason or _REASONS.get(status, ""),
        preload_content=False,
    )


def refused(address: str = "127.0.0.1") -> u3.NewConnectionError:
    """The error of a node that refuses connections.

    :param address: the node, for the message
    """
    return u3.NewConnectionError(HTTPConnection(address), "Connection refused")


def timed_out(address: str = "127.0.0.1") -> u3.ReadTimeoutError:
    """The error of a node that accepted the request but never answered.

    :param address: the node, for the message
    """
    # urllib3 raises this with its pool; there is none here, and nothing reads it.
    return u3.ReadTimeoutError(None, address, "Read timed out.")  # type: ignore[arg-type]


def broken() -> u3.ProtocolError:
    """The error of a connection the node closed in the middle of the exchange."""
    return u3.ProtocolError("Connection aborted.", ConnectionResetError("reset by peer"))


@dataclass
class FakePool:
    """The pool of one fake node; see :class:`FakeNodes`."""

    spec: PoolSpec
    nodes: FakeNodes
    closed: bool = False
    sent: int = 0

    def send(
        self,
        method: str,
        url: str,
        body: WireBody,
        headers: Mapping[str, str],
        timeout: Timeout,
    ) -> Reply:
        """Record the request and let the handler answer it."""
        if self.closed:
            # No urllib3 pool is behind a fake; the error only needs its message.
            raise u3.ClosedPoolError(None, "pool is closed")  # type: ignore[arg-type]
        self.sent += 1
        request = FakeRequest(
            self.spec.address, self.spec.port, method, url, dict(headers), _consume(body), timeout
        )
        with self.nodes.lock:
            self.nodes.requests.append(request)
        return Reply(self.nodes.handler(request), self.nodes.connect_time)

    def close(self) -> None:
        """Mark the pool closed."""
        self.closed = True


@dataclass
class FakeNodes:
    """A pool factory whose pools answer through ``handler`` instead of the network.

    :param handler: answers every request (default: 200 with an empty body)
    :param connect_time: the connect time every reply reports
    """

    handler: Handler = field(default=lambda request: respond())
    connect_time: float = 0.0
    requests: list[FakeRequest] = field(default_factory=list)
    pools: list[FakePool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, spec: PoolSpec) -> FakePool:
        """Make the pool for one node."""
        pool = FakePool(spec, self)
        with self.lock:
            self.pools.append(pool)
        return pool

    def addresses(self) -> list[str]:
        """The node of every request so far, in order."""
        return [request.address for request in self.requests]


def _consume(body: WireBody) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        return bytes(body.read())
    return b"".join(body)


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    503: "Service Unavailable",
}
