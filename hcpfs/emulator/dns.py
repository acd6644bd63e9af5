"""A small authoritative DNS server that tells clients where the emulated nodes are.

HCP clients find a system's nodes by resolving ``admin.<domain>``, ``<tenant>.<domain>`` and
``<namespace>.<tenant>.<domain>``; each name has one A record per node that is up, and clients
spread their requests over them. The server answers over UDP and TCP on one port, and asks
its ``resolve`` callable on every query, so nodes that go down or come back are seen at once.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from dnslib import CLASS, QTYPE, RCODE, RR, A, DNSError, DNSHeader, DNSRecord

log = logging.getLogger(__name__)

Resolve = Callable[[str], Sequence[str] | None]
"""Maps a lowercase name without the trailing dot to its addresses, or None if unknown."""

# Without EDNS (not implemented here) a UDP reply may carry at most 512 bytes; a longer one
# goes out truncated and the client repeats the query over TCP.
_UDP_REPLY_LIMIT = 512
_TCP_IDLE_SECONDS = 2.0
_TCP_MAX_MESSAGES = 64
_PORT_ATTEMPTS = 20
_JOIN_SECONDS = 5.0
# How soon a serving thread notices stop(); each of the two threads adds up to this.
_POLL_SECONDS = 0.05


class DnsServer:
    """Answer A queries for the names ``resolve`` knows, over UDP and TCP on one port.

    :param resolve: called with the lowercase query name, without the trailing dot, on every
        query; returns the addresses to answer with, or None for a name that does not exist
    :param address: the address to listen on
    :param port: the port to listen on for both UDP and TCP; 0 picks one free for both
    :param ttl: the time to live of every A record, in seconds
    """

    def __init__(
        self, resolve: Resolve, address: str = "127.0.0.1", port: int = 0, ttl: int = 5
    ) -> None:
        self._resolve = resolve
        self._address = address
        self._port = port
        self._ttl = ttl
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._started = False

    def __repr__(self) -> str:
        return f"DnsServer({self._address}:{self._port}, ttl={self._ttl})"

    @property
    def address(self) -> str:
        """The address the server listens on."""
        return self._address

    @property
    def port(self) -> int:
        """The UDP and TCP port; the one picked by :meth:`start` when 0 was asked for."""
        return self._port

    def start(self) -> None:
        """Bind both sockets and serve them from background threads.

        :raises OSError: the port (or, with port 0, every port tried) is taken
        :raises RuntimeError: the server was started before
        """
        with self._lock:
            if self._started:
                raise RuntimeError(f"{self!r} was already started")
            udp, tcp = self._bind()
            self._started = True
            self._port = udp.server_address[1]
            self._servers = [udp, tcp]
            for kind, server in (("udp", udp), ("tcp", tcp)):
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": _POLL_SECONDS},
                    name=f"dns-{kind}-{self._port}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        log.debug("DNS server listening on %s port %d (udp, tcp)", self._address, self._port)

    def stop(self) -> None:
        """Stop serving, close both sockets and wait for the server's threads; idempotent."""
        with self._lock:
            servers, self._servers = self._servers, []
            threads, self._threads = self._threads, []
        for server in servers:
            server.shutdown()
            # Also waits for the TCP connections still open, each bounded by the idle timeout.
            server.server_close()
        for thread in threads:
            thread.join(_JOIN_SECONDS)
        if servers:
            log.debug("DNS server on %s port %d stopped", self._address, self._port)

    def __enter__(self) -> DnsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> tuple[_UdpServer, _TcpServer]:
        """Bind UDP, then TCP on the same port; with port 0 retry until both are free."""
        attempts = _PORT_ATTEMPTS if self._port == 0 else 1
        for attempt in range(1, attempts + 1):
            udp = _UdpServer((self._address, self._port), self._answer)
            try:
                tcp = _TcpServer((self._address, udp.server_address[1]), self._answer)
            except OSError:
                udp.server_close()
                if attempt == attempts:
                    raise
                continue
            return udp, tcp
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _answer(self, data: bytes, limit: int | None) -> bytes | None:
        """Return the packed reply to one query, or None when the packet is to be ignored.

        :param data: the query as received
        :param limit: the largest reply that fits the transport, None for no limit
        """
        try:
            request = DNSRecord.parse(data)
        except DNSError as exc:
            log.debug("ignoring a malformed DNS packet of %d bytes: %s", len(data), exc)
            return None
        if request.header.qr or request.header.opcode != 0 or len(request.questions) != 1:
            log.debug("ignoring a DNS packet that is not a single-question query")
            return None

        reply = self._reply(request)
        packed: bytes = reply.pack()
        if limit is not None and len(packed) > limit:
            truncated = DNSRecord(DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, tc=1))
            truncated.add_question(request.q)
            packed = truncated.pack()
        return packed

    def _reply(self, request: Any) -> Any:
        """Build the reply record to a one-question query (dnslib objects are untyped)."""
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        qtype = QTYPE.get(question.qtype, str(question.qtype))
        reply = request.reply(ra=0, aa=1)
        try:
            addresses = self._resolve(name)
            if addresses is None:
                reply.header.rcode = RCODE.NXDOMAIN
            elif question.qtype == QTYPE.A and question.qclass == CLASS.IN:
                for address in addresses:
                    rdata = A(str(ipaddress.IPv4Address(address)))
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=rdata, ttl=self._ttl))
        except Exception:
            # A broken resolve callable must not take the server down; the client sees SERVFAIL.
            log.exception("resolving %s failed", name)
            reply = request.reply(ra=0, aa=1)
            reply.header.rcode = RCODE.SERVFAIL
        log.debug(
            "DNS %s %s: %s, %d answers", name, qtype, RCODE.get(reply.header.rcode), len(reply.rr)
        )
        return reply


def zone_resolver(
    domain: str,
    tenants: Callable[[], Mapping[str, Iterable[str]]],
    addresses: Callable[[], Sequence[str]],
) -> Resolve:
    """Build the resolve function of an HCP system for :class:`DnsServer`.

    The names it knows are ``admin.<domain>``, ``<tenant>.<domain>``,
    ``<namespace>.<tenant>.<domain>`` and, for replication links, ``replication.<domain>`` and
    ``replication.admin.<domain>``; all of them resolve to ``addresses()``. Both callables are
    asked on every lookup, so tenants, namespaces and nodes may change at run time.

    :param domain: the system's DNS domain, e.g. ``hcp.example.com``
    :param tenants: returns the tenant names, each with the names of its namespaces
    :param addresses: returns the addresses of the nodes that are up
    """
    suffix = "." + domain.lower().rstrip(".")

    def resolve(name: str) -> Sequence[str] | None:
        name = name.lower().rstrip(".")
        if not name.endswith(suffix):
            return None
        labels = tuple(name[: -len(suffix)].split("."))
        if _is_system_name(labels, tenants()):
            return list(addresses())
        return None

    return resolve


def _is_system_name(labels: tuple[str, ...], tenants: Mapping[str, Iterable[str]]) -> bool:
    """Tell whether the labels in front of the domain name a host of the system."""
    if labels in (("admin",), ("replication",), ("replication", "admin")):
        return True
    by_tenant = {tenant.lower(): namespaces for tenant, namespaces in tenants.items()}
    if len(labels) == 1:
        return labels[0] in by_tenant
    if len(labels) == 2 and labels[1] in by_tenant:
        return labels[0] in {namespace.lower() for namespace in by_tenant[labels[1]]}
    return False


Answer = Callable[[bytes, int | None], bytes | None]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _log_error(client_address: Any) -> None:
    # socketserver would print the traceback to stderr; send it to the log instead.
    log.exception("unexpected error while answering DNS from %s", client_address)


class _UdpServer(socketserver.UDPServer):
    # Queries are answered from memory, so one thread serves them in turn. SO_REUSEADDR stays
    # off: on Linux it would let a second server bind the same UDP port without an error.
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.address_family = _family(address[0])
        self.answer = answer
        super().__init__(address, _UdpHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log_error(client_address)


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    # Non-daemon handler threads are joined by server_close(), so stop() leaves none behind.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.address_family = _family(address[0])
        self.answer = answer
        super().__init__(address, _TcpHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log_error(client_address)


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.answer(data, _UDP_REPLY_LIMIT)
        if reply is None:
            return
        try:
            sock.sendto(reply, self.client_address)
        except OSError as exc:
            log.debug("could not send a DNS reply to %s: %s", self.client_address, exc)


class _TcpHandler(socketserver.StreamRequestHandler):
    """Serve the length-prefixed queries of one connection until it closes or idles."""

    server: _TcpServer
    timeout = _TCP_IDLE_SECONDS

    def handle(self) -> None:
        try:
            for _ in range(_TCP_MAX_MESSAGES):
                if not self._serve_one():
                    return
        except OSError as exc:
            log.debug("DNS connection from %s ended: %s", self.client_address, exc)

    def _serve_one(self) -> bool:
        """Answer one query; return False when the connection should be closed."""
        prefix = self.rfile.read(2)
        if len(prefix) < 2:
            return False
        (length,) = struct.unpack("!H", prefix)
        data = self.rfile.read(length)
        if len(data) < length:
            return False
        reply = self.server.answer(data, None)
        if reply is None:
            return False
        self.wfile.write(struct.pack("!H", len(reply)) + reply)
        return True
