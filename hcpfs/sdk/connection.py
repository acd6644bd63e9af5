"""A connection: sends requests to a target's nodes, retrying elsewhere when a node fails.

A :class:`Connection` is meant for one thread at a time; make one per thread on a shared
:class:`~hcpfs.sdk.target.Target`. Responses are not read ahead: read the body with
:meth:`Connection.read` (or from the response), or call :meth:`Connection.close`, before the
connection's next request gives the socket back.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote

from urllib3 import BaseHTTPResponse, Timeout
from urllib3 import exceptions as u3
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from hcpfs import __version__
from hcpfs.sdk.constants import (
    RS_READ_ALLOWED,
    RS_READ_ON_FAILOVER,
    RS_WRITE_ALLOWED,
    RS_WRITE_ON_FAILOVER,
)
from hcpfs.sdk.errors import (
    HcpsdkCantConnectError,
    HcpsdkCertificateError,
    HcpsdkError,
    HcpsdkTimeoutError,
)
from hcpfs.sdk.pool import SocketOption
from hcpfs.sdk.retry import EXCLUDES_NODE, MARKS_NODE_DOWN, Body, Failure, Payload, may_retry
from hcpfs.sdk.target import Target

log = logging.getLogger(__name__)

#: Methods that only read; the replica strategy treats every other method as a write.
READ_METHODS = frozenset({"GET", "HEAD"})

#: Unread bodies up to this size are read away so the connection can be reused.
DRAIN_LIMIT = 64 * 1024

#: Query parameters: a mapping or pairs; a value of None gives a bare name (``?suspend``).
Params = Mapping[str, str | int | None] | Iterable[tuple[str, str | int | None]]

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_USER_AGENT = f"hcpfs/{__version__}"
_CERTIFICATE_ERRORS = (ssl.SSLCertVerificationError, HostnameMismatch)


@dataclass(frozen=True)
class _Request:
    """One request as it is sent to every node it is tried on."""

    method: str
    path: str
    payload: Payload
    headers: Mapping[str, str]

    def may_retry_after(self, failure: Failure) -> bool:
        return may_retry(self.method, failure, self.payload.rewindable)


@dataclass
class _Attempt:
    """How one attempt on one node ended: a response, or a failure with its error."""

    system: Target
    address: str
    response: BaseHTTPResponse | None = None
    failure: Failure | None = None
    error: HcpsdkError | None = None


class Connection:
    """Sends requests to a target, one at a time, and keeps the last response.

    Requests go to the target's nodes in turn. When a node cannot be reached, times out or
    answers 503, an idempotent request (GET, HEAD, DELETE, PUT) with a body that can be sent
    again is retried on another node, up to ``retries`` times per system; a request that never
    reached a node is retried whatever its method. Nodes that cannot be reached or time out are
    avoided for a while. With a replica and a ``RS_*`` strategy, requests move to the replica
    system when the strategy says so.

    :param target: the target to talk to
    :param timeout: seconds to wait for a node to answer (read timeout)
    :param idletime: seconds an unused pool of connections to a node is kept open
    :param retries: how many times a failed request is retried on other nodes of one system
    :param debuglevel: accepted for compatibility and ignored: ``http.client`` debug output
        would print the credentials; use logging (DEBUG) instead
    :param sock_keepalive: turn on TCP keep-alive on the connections
    :param tcp_keepintvl: seconds between keep-alive probes
    :param tcp_keepidle: seconds of idleness before the first keep-alive probe
    :param tcp_keepcnt: unanswered probes before the connection is dropped
    :param connect_timeout: seconds to wait for a connection to open; defaults to ``timeout``
        but at most 10 s, so a node that cannot be reached is given up on quickly
    """

    def __init__(  # noqa: PLR0917  # positional order kept from the original hcpsdk API
        self,
        target: Target,
        timeout: float = 30,
        idletime: float = 30,
        retries: int = 3,
        debuglevel: int = 0,
        sock_keepalive: bool = False,
        tcp_keepintvl: int = 60,
        tcp_keepidle: int = 60,
        tcp_keepcnt: int = 3,
        *,
        connect_timeout: float | None = None,
    ) -> None:
        self._target = target
        self._timeout = Timeout(
            connect=connect_timeout if connect_timeout is not None else min(timeout, 10.0),
            read=timeout,
        )
        self._idletime = float(idletime)
        self._retries = max(0, retries)
        self._debuglevel = debuglevel
        self._socket_options = _keepalive_options(
            sock_keepalive, tcp_keepidle, tcp_keepintvl, tcp_keepcnt
        )
        self._response: BaseHTTPResponse | None = None
        self._answered_by: Target | None = None
        self._address: str | None = None
        self._path: str | None = None
        self._done = True
        self._started = 0.0
        self._connect_time = 0.0
        self._service_time1 = 0.0
        self._service_time2 = 0.0

    @property
    def target(self) -> Target:
        """The target this connection was made for."""
        return self._target

    @property
    def address(self) -> str | None:
        """The node that answered the last request (which tells the system, too)."""
        return self._address

    @property
    def answered_by(self) -> Target | None:
        """The system that answered the last request: the target, or its replica."""
        return self._answered_by

    @property
    def url(self) -> str | None:
        """The path, with its query, of the last request as it was sent."""
        return self._path

    @property
    def response(self) -> BaseHTTPResponse | None:
        """The response to the last request."""
        return self._response

    @property
    def response_status(self) -> int | None:
        """The HTTP status of the last response."""
        return None if self._response is None else self._response.status

    @property
    def response_reason(self) -> str | None:
        """The HTTP reason phrase of the last response."""
        return None if self._response is None else self._response.reason

    @property
    def connect_time(self) -> float:
        """Seconds the last request spent opening its connection (0.0 when one was reused)."""
        return self._connect_time

    @property
    def service_time1(self) -> float:
        """Seconds from the start of the last request to its response headers."""
        return self._service_time1

    @property
    def service_time2(self) -> float:
        """Seconds from the start of the last request to the last read of its body."""
        return self._service_time2

    def request(
        self,
        method: str,
        url: str,
        body: Body = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BaseHTTPResponse:
        """Send a request and return the response with its body still unread.

        HTTP error statuses are returned, not raised: look at ``response_status``.

        :param method: the HTTP method
        :param url: the path, e.g. ``/rest/dir/object``; characters that cannot stand in a URL
            are percent-encoded, existing ``%XX`` escapes are kept (so write a literal ``%``
            as ``%25``)
        :param body: bytes, text (sent as UTF-8), a binary file or an iterable of bytes
        :param params: query parameters, a mapping or pairs; None as a value gives a bare name
        :param headers: headers to send besides ``Host`` and the authorization
        :raises HcpsdkTimeoutError: when the node (and every retry) timed out
        :raises HcpsdkCantConnectError: when no node could be reached or the connection broke
        :raises HcpsdkCertificateError: when a node's TLS certificate did not verify
        """
        self._finish()
        method = method.upper()
        path = self._path = build_url(url, params)
        payload = Payload(body)
        self._started = time.perf_counter()
        self._connect_time = 0.0
        attempt = self._send(_Request(method, path, payload, headers or {}))
        if attempt.response is None:
            assert attempt.error is not None
            self._service_time1 = self._service_time2 = time.perf_counter() - self._started
            raise attempt.error
        return self._accept(attempt, method, path, payload)

    def PUT(  # noqa: N802  # method names as in the original hcpsdk API
        self,
        url: str,
        body: Body = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BaseHTTPResponse:
        """Store an object (or annotation, directory, ...); see :meth:`request`."""
        return self.request("PUT", url, body, params, headers)

    def GET(  # noqa: N802  # method names as in the original hcpsdk API
        self, url: str, params: Params | None = None, headers: Mapping[str, str] | None = None
    ) -> BaseHTTPResponse:
        """Retrieve an object or listing; see :meth:`request`."""
        return self.request("GET", url, None, params, headers)

    def HEAD(  # noqa: N802  # method names as in the original hcpsdk API
        self, url: str, params: Params | None = None, headers: Mapping[str, str] | None = None
    ) -> BaseHTTPResponse:
        """Check existence and read the metadata headers; see :meth:`request`."""
        return self.request("HEAD", url, None, params, headers)

    def POST(  # noqa: N802  # method names as in the original hcpsdk API
        self,
        url: str,
        body: Body = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BaseHTTPResponse:
        """Change metadata, or act on a management resource; see :meth:`request`."""
        return self.request("POST", url, body, params, headers)

    def DELETE(  # noqa: N802  # method names as in the original hcpsdk API
        self, url: str, params: Params | None = None, headers: Mapping[str, str] | None = None
    ) -> BaseHTTPResponse:
        """Delete an object, directory, annotation, ...; see :meth:`request`."""
        return self.request("DELETE", url, None, params, headers)

    def read(self, amt: int | None = None) -> bytes:
        """Read the body of the last response.

        :param amt: bytes to read at most; None reads to the end
        :raises HcpsdkError: when there is no response to read from
        :raises HcpsdkTimeoutError: when the node stopped sending
        :raises HcpsdkCantConnectError: when the connection broke
        """
        response = self._response
        if response is None:
            raise HcpsdkError("no response to read from")
        try:
            data = response.read(amt)
        except u3.HTTPError as exc:
            raise self._read_error(exc) from exc
        finally:
            self._service_time2 = time.perf_counter() - self._started
        if amt is None or len(data) < amt:
            self._body_read()
        return data

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """Return a header of the last response.

        :param name: the header name, in any case
        :param default: what to return when the header is absent
        """
        if self._response is None:
            return default
        value = self._response.headers.get(name)
        return default if value is None else str(value)

    def getheaders(self) -> list[tuple[str, str]]:
        """Return the headers of the last response as (name, value) pairs."""
        if self._response is None:
            return []
        return list(self._response.headers.items())

    def close(self) -> None:
        """Finish the last response; the connection may still be used afterwards."""
        self._finish()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connection({self._target.fqdn!r}, node={self._address!r})"

    # -- sending -----------------------------------------------------------------------------

    def _send(self, request: _Request) -> _Attempt:
        systems = self._systems(request.method)
        attempt: _Attempt | None = None
        for number, system in enumerate(systems):
            is_last = number == len(systems) - 1
            if not is_last and not system.circle.healthy():
                log.debug("every node of %s is marked down, skipping it", system.fqdn)
                continue
            attempt = self._send_to_system(system, request, attempt)
            if attempt.failure is None:
                return attempt
            if is_last or not request.may_retry_after(attempt.failure):
                break
            log.debug("%s %s failed on %s, next system", request.method, request.path, system.fqdn)
        assert attempt is not None
        return attempt

    def _systems(self, method: str) -> list[Target]:
        """The systems to try, in order, as the replica strategy says."""
        primary, replica = self._target, self._target.replica
        if replica is None:
            return [primary]
        strategy = self._target.replica_strategy
        if method in READ_METHODS:
            always, on_failover = RS_READ_ALLOWED, RS_READ_ON_FAILOVER
        else:
            always, on_failover = RS_WRITE_ALLOWED, RS_WRITE_ON_FAILOVER
        if strategy & always:
            return [replica, primary]
        if strategy & on_failover:
            return [primary, replica]
        return [primary]

    def _send_to_system(
        self, system: Target, request: _Request, previous: _Attempt | None
    ) -> _Attempt:
        excluded: set[str] = set()
        attempt = previous
        for _ in range(self._retries + 1):
            address = system.circle.pick(exclude=excluded)
            if address is None:
                break
            if attempt is not None:
                self._discard(attempt)
                request.payload.rewind()
                log.debug("sending %s %s again, to %s", request.method, request.path, address)
            attempt = self._attempt(system, address, request)
            if attempt.failure is None:
                return attempt
            if attempt.failure in MARKS_NODE_DOWN:
                system.mark_down(address)
            if attempt.failure in EXCLUDES_NODE:
                excluded.add(address)
            if not request.may_retry_after(attempt.failure):
                return attempt
        assert attempt is not None, "a system always has a node to try first"
        log.warning(
            "%s %s: giving up on %s: %s", request.method, request.path, system.fqdn, attempt.error
        )
        return attempt

    def _attempt(self, system: Target, address: str, request: _Request) -> _Attempt:
        pool = system.node_pool(address, self._socket_options, self._idletime)
        headers = _headers(system, request)
        try:
            reply = pool.send(
                request.method, request.path, request.payload.body, headers, self._timeout
            )
        except u3.HTTPError as exc:
            failure, error = _classify(exc, address, request.path)
            # Raised later, outside this handler: chain it by hand, as "raise from" would.
            error.__cause__ = exc
            log.debug("%s %s on %s failed: %s", request.method, request.path, address, exc)
            return _Attempt(system, address, failure=failure, error=error)
        self._connect_time += reply.connect_time
        response = reply.response
        if response.status != 503:
            return _Attempt(system, address, response=response)
        error = _status_error("service unavailable", response, address, request.path)
        return _Attempt(system, address, response=response, failure=Failure.BUSY, error=error)

    def _discard(self, attempt: _Attempt) -> None:
        # A 503 that will be retried: give its connection back before trying elsewhere.
        if attempt.response is not None:
            _release(attempt.response)

    def _accept(
        self, attempt: _Attempt, method: str, path: str, payload: Payload
    ) -> BaseHTTPResponse:
        response = attempt.response
        assert response is not None
        self._response = response
        self._address = attempt.address
        self._answered_by = attempt.system
        self._done = False
        self._service_time1 = self._service_time2 = time.perf_counter() - self._started
        log.debug(
            "%s %s -> %d node=%s sent=%s length=%s %.1f ms",
            method,
            path,
            response.status,
            attempt.address,
            payload.length if payload.length is not None else "?",
            response.headers.get("Content-Length", "?"),
            self._service_time1 * 1000.0,
        )
        return response

    # -- finishing ---------------------------------------------------------------------------

    def _body_read(self) -> None:
        if self._done:
            return
        self._done = True
        if self._answered_by is not None and self._address is not None:
            self._answered_by.touch(self._address, self._socket_options)

    def _finish(self) -> None:
        if self._response is not None and not self._done:
            _release(self._response)
            self._body_read()

    def _read_error(self, exc: u3.HTTPError) -> HcpsdkError:
        address, url = self._address, self._path
        if isinstance(exc, u3.TimeoutError):
            if self._answered_by is not None and address is not None:
                self._answered_by.mark_down(address)
            return HcpsdkTimeoutError("timed out reading the body", node=address, url=url)
        return HcpsdkCantConnectError(f"reading the body failed: {exc}", node=address, url=url)


def build_url(url: str, params: Params | None = None) -> str:
    """Percent-encode a path and append the query string.

    Characters that cannot stand in a URL path are encoded; ``%XX`` escapes already present
    are kept, so a path encoded by the caller is sent unchanged.

    :param url: the path, e.g. ``/rest/a b/c``
    :param params: query parameters; None as a value gives a bare name
    """
    pieces, last = [], 0
    for escape in _ESCAPE.finditer(url):
        pieces.append(quote(url[last : escape.start()], safe="/"))
        pieces.append(escape.group())
        last = escape.end()
    pieces.append(quote(url[last:], safe="/"))
    path = "".join(pieces)
    if not params:
        return path
    items = params.items() if isinstance(params, Mapping) else params
    query = "&".join(_query_item(name, value) for name, value in items)
    return f"{path}?{query}" if query else path


def _query_item(name: str, value: str | int | None) -> str:
    if value is None:
        return quote(name, safe="")
    return f"{quote(name, safe='')}={quote(str(value), safe='')}"


def _headers(system: Target, request: _Request) -> dict[str, str]:
    headers = {"User-Agent": _USER_AGENT, **system.headers}
    named = {name.lower() for name in request.headers}
    framed = "content-length" in named or "transfer-encoding" in named
    payload = request.payload
    if payload.length is not None and payload.body is not None and not framed:
        headers["Content-Length"] = str(payload.length)
    headers.update(request.headers)
    return headers


def _keepalive_options(
    enabled: bool, idle: int, interval: int, count: int
) -> tuple[SocketOption, ...]:
    if not enabled:
        return ()
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    # TCP_KEEPIDLE and friends are Linux names; other systems keep their defaults.
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return tuple(options)


def _classify(exc: u3.HTTPError, address: str, url: str) -> tuple[Failure, HcpsdkError]:
    """Turn a urllib3 error into a failure kind and the error to raise if nothing else works."""
    if isinstance(exc, u3.NewConnectionError):
        return Failure.CONNECT, HcpsdkCantConnectError(
            f"cannot connect: {exc}", node=address, url=url
        )
    if isinstance(exc, u3.ConnectTimeoutError):
        return Failure.CONNECT, HcpsdkTimeoutError("timed out connecting", node=address, url=url)
    if isinstance(exc, u3.TimeoutError):
        return Failure.TIMEOUT, HcpsdkTimeoutError("timed out waiting", node=address, url=url)
    if isinstance(exc, u3.SSLError) and _is_certificate_problem(exc):
        return Failure.CERTIFICATE, HcpsdkCertificateError(
            f"certificate did not verify: {exc}", node=address, url=url
        )
    if isinstance(exc, u3.SSLError):
        return Failure.CONNECT, HcpsdkCantConnectError(
            f"TLS handshake failed: {exc}", node=address, url=url
        )
    return Failure.BROKEN, HcpsdkCantConnectError(
        f"connection broke: {exc}", node=address, url=url
    )


def _is_certificate_problem(exc: u3.SSLError) -> bool:
    # urllib3 wraps the ssl module's error (or its own hostname mismatch) in its SSLError.
    candidates = [*exc.args, exc.__cause__, exc.__context__]
    return any(isinstance(candidate, _CERTIFICATE_ERRORS) for candidate in candidates)


def _status_error(reason: str, response: BaseHTTPResponse, address: str, url: str) -> HcpsdkError:
    message = response.headers.get("X-HCP-ErrorMessage")
    return HcpsdkError(
        reason, node=address, url=url, status=response.status, error_message=message
    )


def _release(response: BaseHTTPResponse) -> None:
    # Small leftovers are read away so the connection can be reused; large ones would cost
    # more than a new connection, so the connection is closed instead.
    remaining = getattr(response, "length_remaining", None)
    try:
        if remaining is not None and remaining <= DRAIN_LIMIT:
            response.drain_conn()
        else:
            response.close()
    finally:
        response.release_conn()
