"""HTTP nodes: threaded HTTP/1.1 servers with keep-alive, one node per address.

All nodes of a system share its store. A node listens on one or more ports (the data port,
and possibly HTTPS and the management API next to it); each port parses the request line and
headers, wraps the body in a reader, lets its handler answer, and writes the response with the
headers every HCP response carries. A node can be stopped (its listening sockets and open
connections are closed, so clients see connection refused) and started again on the same
address and ports.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import BodyReader, Request, Response, Writable, parse_query
from hcpfs.emulator.faults import Faults

if TYPE_CHECKING:
    from hcpfs.emulator.system import System

log = logging.getLogger(__name__)

_SMALL = 64 * 1024
_DRAIN_LIMIT = 64 * 1024
_JOIN_TIMEOUT = 5.0
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_SUCCESS_HEADERS = (
    "Cache-Control: no-cache,no-store\r\nPragma: no-cache\r\n"
    "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
)
_NO_BODY = frozenset({100, 204, 304})


class _Clock:
    """The ``Date`` header, formatted once per second."""

    def __init__(self) -> None:
        self._second = 0
        self._text = ""

    def date(self, now: float) -> tuple[int, str]:
        second = int(now)
        if second != self._second:
            self._text = formatdate(second, usegmt=True)
            self._second = second
        return second, self._text


class Listener:
    """One port of a node: plain HTTP or TLS, answered by one handler.

    :param node: the node the port belongs to
    :param name: what the port serves: ``data`` (the first port), ``https``, ``mapi`` ...
    :param port: the port, 0 to pick a free one at the first start
    :param ssl_context: serve HTTPS with this server context instead of HTTP
    :param handler: what answers the requests that arrive on this port
    """

    def __init__(
        self,
        node: Node,
        name: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        handler: Callable[[Request], Response],
    ) -> None:
        self.node = node
        self.name = name
        self.port = port
        self.ssl_context = ssl_context
        self.handler = handler
        self.socket: socket.socket | None = None
        self.acceptor: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Listener({self.name} {self.node.address}:{self.port})"

    @property
    def scheme(self) -> str:
        """``https`` when the port speaks TLS, else ``http``."""
        return "https" if self.ssl_context is not None else "http"

    @property
    def url(self) -> str:
        """The base URL of this port (``http://address:port``)."""
        return f"{self.scheme}://{self.node.address}:{self.port}"


class Node:
    """One HCP node: an address whose ports answer HTTP for the whole system.

    A node has a data port (the first :class:`Listener`) and may listen on more ports with
    :meth:`listen`, e.g. HTTPS next to plain HTTP, or the management API. :meth:`stop` and
    :meth:`start` take all of them off the network and back together.

    :param system: the system whose requests this node serves
    :param address: the IPv4 address to bind
    :param port: the data port, 0 to pick a free one at the first start
    :param ssl_context: serve HTTPS with this server context instead of HTTP on the data port
    :param handler: what answers requests on the data port (default: ``system.handle``);
        another interface, such as a management API on its own port, can be served by the
        same machinery
    """

    def __init__(
        self,
        system: System,
        address: str,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        handler: Callable[[Request], Response] | None = None,
    ) -> None:
        self.system = system
        self.address = address
        data_handler = handler if handler is not None else system.handle
        self.listeners = [Listener(self, "data", port, ssl_context, data_handler)]
        self._running = False
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._requests = 0
        self.clock = _Clock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Node({self.address}:{self.port}, {state})"

    @property
    def running(self) -> bool:
        """Whether the node accepts connections."""
        return self._running

    @property
    def port(self) -> int:
        """The data port."""
        return self.listeners[0].port

    @port.setter
    def port(self, port: int) -> None:
        self.listeners[0].port = port

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the data port, ``None`` for plain HTTP."""
        return self.listeners[0].ssl_context

    @property
    def handler(self) -> Callable[[Request], Response]:
        """What answers requests on the data port."""
        return self.listeners[0].handler

    @handler.setter
    def handler(self, handler: Callable[[Request], Response]) -> None:
        self.listeners[0].handler = handler

    @property
    def url(self) -> str:
        """The base URL of the data port (``http://address:port``)."""
        return self.listeners[0].url

    @property
    def requests(self) -> int:
        """How many requests this node has received on any of its ports since it was made."""
        return self._requests

    def count_request(self) -> None:
        """Count one request (the nodes call this for every request they read)."""
        with self._lock:
            self._requests += 1

    def listener(self, name: str) -> Listener | None:
        """Return the port called ``name`` (``data``, ``https``, ``mapi`` ...), if any."""
        return next((item for item in self.listeners if item.name == name), None)

    def listen(
        self,
        name: str,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        handler: Callable[[Request], Response] | None = None,
    ) -> Listener:
        """Add a port to this node; it is bound at the next :meth:`start`.

        :param name: what the port serves; unique on the node
        :param port: the port, 0 to pick a free one at the first start
        :param ssl_context: serve HTTPS with this server context
        :param handler: what answers the requests (default: ``system.handle``)
        :raises ValueError: when the node already has a port of that name
        """
        if self.listener(name) is not None:
            raise ValueError(f"node {self.address} already has a port called {name!r}")
        listener = Listener(self, name, port, ssl_context, handler or self.system.handle)
        self.listeners.append(listener)
        return listener

    def start(self) -> None:
        """Bind every port and start accepting connections (again, after :meth:`stop`).

        :raises OSError: when a port cannot be bound; the ports bound so far are closed
        """
        with self._lock:
            if self._running:
                return
            bound: list[socket.socket] = []
            try:
                for listener in self.listeners:
                    bound.append(socket.create_server((self.address, listener.port), backlog=128))
            except OSError:
                for sock in bound:
                    sock.close()
                raise
            for listener, sock in zip(self.listeners, bound, strict=True):
                listener.port = sock.getsockname()[1]
                listener.socket = sock
                listener.acceptor = threading.Thread(
                    target=self._accept,
                    args=(listener, sock),
                    name=f"hcp-node-{self.address}-{listener.name}",
                    daemon=True,
                )
            self._running = True
            for listener in self.listeners:
                assert listener.acceptor is not None
                listener.acceptor.start()
        ports = ", ".join(f"{item.name} {item.port}" for item in self.listeners)
        log.debug("node %s listening (%s)", self.address, ports)

    def stop(self) -> None:
        """Close every port and every open connection, and wait for the threads."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            sockets = [item.socket for item in self.listeners if item.socket is not None]
            acceptors = [item.acceptor for item in self.listeners if item.acceptor is not None]
            for listener in self.listeners:
                listener.socket = listener.acceptor = None
            connections = dict(self._connections)
        for sock in sockets:
            _close(sock)
        for conn in connections:
            _close(conn)
        for thread in [*acceptors, *connections.values()]:
            thread.join(_JOIN_TIMEOUT)
        log.debug("node %s stopped", self.address)

    def _accept(self, listener: Listener, sock: socket.socket) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(listener, conn, peer), name="hcp-conn", daemon=True
            )
            with self._lock:
                if listener.socket is not sock:
                    conn.close()
                    return
                self._connections[conn] = thread
            thread.start()

    def _serve(self, listener: Listener, conn: socket.socket, peer: Any) -> None:
        try:
            conn.settimeout(self.system.config.request_timeout)
            served: socket.socket = conn
            if listener.ssl_context is not None:
                served = listener.ssl_context.wrap_socket(conn, server_side=True)
            self.faults.on_connection(self)
            _Handler(served, peer, cast(Any, listener))
        except (OSError, ssl.SSLError) as exc:
            log.debug("node %s: connection from %s ended: %s", self.address, peer[0], exc)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            _close(conn)

    @property
    def faults(self) -> Faults:
        """The system's fault hooks."""
        return self.system.faults


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class _Handler(BaseHTTPRequestHandler):
    """Serves the requests of one connection."""

    protocol_version = "HTTP/1.1"
    server: Any
    _expect_continue = False

    def setup(self) -> None:
        super().setup()
        self.listener: Listener = self.server
        self.node: Node = self.listener.node

    def version_string(self) -> str:
        return f"HCP V{self.node.system.config.software_version}"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the standard access log: one DEBUG line per request is written instead."""

    def handle_expect_100(self) -> bool:
        # 100 Continue is sent when the body is first read, so a refusal comes first.
        self._expect_continue = True
        return True

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Answer a request the standard parser refused (bad request line, huge header)."""
        self.close_connection = True
        self._send(Response(code, message=message or _REASONS.get(code, "")), "GET", [])

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = "HTTP/1.1"
            self.send_error(414)
            return
        self._expect_continue = False
        if not self.parse_request():
            return
        try:
            self._handle()
        except OSError as exc:
            log.debug("node %s: connection lost while answering: %s", self.node.address, exc)
            self.close_connection = True

    def _handle(self) -> None:
        started = time.perf_counter()
        node = self.node
        node.count_request()
        raw_path, _, raw_query = self.path.partition("?")
        reader = self._body_reader()
        status = node.faults.before_request(node, self.command, raw_path)
        if status is not None:
            response = Response(status, message="the request was refused by an injected fault")
        else:
            response = self._dispatch(raw_path, raw_query, reader)
        if (reader is not None and reader.broken) or response.status == 411:
            # The stream position is unknown: a body may follow that has no length.
            self.close_connection = True
        elif reader is not None and not reader.done:
            self._finish_body(reader)
        sent = self._send(response, self.command, [])
        if log.isEnabledFor(logging.DEBUG):
            received = reader.received if reader is not None else 0
            log.debug(
                "%s %s %d %d %s %.1fms",
                self.command,
                raw_path,
                response.status,
                sent + received,
                node.address,
                (time.perf_counter() - started) * 1000,
            )

    def _dispatch(self, raw_path: str, raw_query: str, reader: BodyReader | None) -> Response:
        node = self.node
        try:
            path = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            return Response(400, message="the URL is not valid UTF-8 percent-encoding")
        body: Any = reader if reader is not None else BodyReader(self.rfile, 0)
        if reader is not None:
            body = node.faults.wrap_request_body(node, reader)
        host = (self.headers.get("Host") or "").strip().lower()
        # Drop the port: "[::1]:80" -> "[::1]", "ns.t.d:80" -> "ns.t.d".
        host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        request = Request(
            method=self.command,
            path=path,
            raw_path=raw_path,
            query=parse_query(raw_query),
            headers=self.headers,
            body=body,
            host=host,
            node=node.address,
        )
        try:
            return self.listener.handler(request)
        except HcpError as exc:
            return Response.error(exc)
        except ConnectionError:
            raise  # the connection broke (or a fault broke it): close without an answer
        except Exception:
            log.exception("node %s: %s %s failed", node.address, self.command, raw_path)
            return Response(500, message="internal error")

    def _body_reader(self) -> BodyReader | None:
        """Return the reader of the request body, or ``None`` when there is none."""
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        length_text = self.headers.get("Content-Length")
        continue_ = self._send_continue if self._expect_continue else None
        if "chunked" in encoding:
            return BodyReader(self.rfile, None, continue_)
        if length_text is None:
            return None
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return BodyReader(self.rfile, 0)
        return BodyReader(self.rfile, length, continue_)

    def _send_continue(self) -> None:
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _finish_body(self, reader: BodyReader) -> None:
        """Drop an unread body when it is small and was sent anyway; else close afterwards."""
        remaining = reader.remaining
        sent = reader.started or not self._expect_continue
        if (
            sent
            and remaining is not None
            and remaining <= _DRAIN_LIMIT
            and reader.drain(remaining)
        ):
            return
        self.close_connection = True

    def _send(self, response: Response, method: str, extra: list[str]) -> int:
        """Write the response; return the number of body bytes sent."""
        node = self.node
        config = node.system.config
        status = response.status
        now, date = node.clock.date(time.time())
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Date: {date}\r\nServer: HCP V{config.software_version}\r\n"
            f"X-RequestId: {random.getrandbits(64):016X}\r\n"
            f"X-HCP-ServicedBySystem: {node.system.serviced_by}\r\n"
            f"X-HCP-Time: {now}\r\nX-HCP-SoftwareVersion: {config.software_version}\r\n"
        ]
        if status < 400:
            lines.append(_SUCCESS_HEADERS)
        else:
            lines.append(f"X-HCP-ErrorMessage: {_header_text(response.message)}\r\n")
        lines.extend(f"{name}: {value}\r\n" for name, value in response.headers)
        # HEAD announces the framing GET would have, without a body.
        chunked = response.stream is not None and response.length is None
        if chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        elif status not in _NO_BODY:
            lines.append(f"Content-Length: {response.length or 0}\r\n")
        if self.close_connection:
            lines.append("Connection: close\r\n")
        lines.extend(extra)
        lines.append("\r\n")
        head = "".join(lines).encode("utf-8")
        if method == "HEAD" or status in _NO_BODY:
            self.wfile.write(head)
            return 0
        return self._send_body(head, response, chunked)

    def _send_body(self, head: bytes, response: Response, chunked: bool) -> int:
        node = self.node
        writer: Writable = node.faults.wrap_response_body(node, self.wfile)
        plain = writer is self.wfile
        if response.stream is None and (
            not response.body or (plain and len(response.body) <= _SMALL)
        ):
            # Head and small body in one send: one system call per request.
            self.wfile.write(head + response.body)
            return len(response.body)
        self.wfile.write(head)
        pieces = response.stream if response.stream is not None else (response.body,)
        sent = 0
        for piece in pieces:
            if chunked:
                if piece:
                    writer.write(b"%X\r\n" % len(piece) + bytes(piece) + b"\r\n")
            else:
                writer.write(piece)
            sent += len(piece)
        if chunked:
            writer.write(b"0\r\n\r\n")
        return sent


def _header_text(text: str) -> str:
    """Keep a header value on one line."""
    return text.replace("\r", " ").replace("\n", " ")
