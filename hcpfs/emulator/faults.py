"""Fault injection: refused connections, silence, errors, slowness, cut and reset transfers.

Every system has one :class:`Faults` (``System.faults``). Its methods switch a fault on while
the nodes run; each fault can be limited to a number of requests (``count``) or a time
(``seconds``) and then ends by itself, and :meth:`Faults.clear` ends them all. A
:class:`ControlServer` exposes the same switches as JSON over HTTP on an address of its own,
and :func:`control` sends it one request.

The nodes call the hooks of this class at fixed points of every connection and request:

1. :meth:`Faults.on_connection` -- in the connection's thread, right after the node accepted
   it (and after the TLS handshake when the node serves HTTPS), before the first request is
   read. Raising ``OSError`` here drops the connection.
2. :meth:`Faults.before_request` -- after the request line and headers were parsed, before
   authentication and routing. It may sleep. A returned status (e.g. 503) is answered at once
   (empty body, ``X-HCP-ErrorMessage``) instead of handling the request; raising ``OSError``
   closes the connection without an answer.
3. :meth:`Faults.wrap_request_body` -- when the request has a body, around the reader the
   handler reads it from (after de-chunking, before gzip decoding). The reader's ``read(n)``
   returns ``b""`` at the end of the body.
4. :meth:`Faults.wrap_response_body` -- before the status line and headers are sent, around
   the writer the response *body* is written to; the head goes to the connection directly.
   Returning ``writer`` itself means no fault applies, and lets the node send the head and a
   small body in one write; an empty body never goes through a wrapper. A wrapper's
   ``write(data)`` must send all of ``data``, or sleep, or send part of it and raise
   ``OSError`` so that the node closes the connection. It is called for every answer that
   may have a body (not for HEAD, 204 or 304), even an empty one, so it is also where a
   reset prepared in hook 3 is done.

All hooks of one request run in the thread that serves its connection.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

import urllib3

from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import CHUNK, BodyReader

if TYPE_CHECKING:
    from hcpfs.emulator.exchange import Readable, Writable
    from hcpfs.emulator.server import Node
    from hcpfs.emulator.system import System

log = logging.getLogger(__name__)

#: The path of the control endpoint on a :class:`ControlServer`.
CONTROL_PATH = "/_emulator/faults"

# Waits re-check every so often whether the node stopped or the fault was cleared.
_POLL = 0.05
# Bandwidth is paced in pieces of this many seconds' worth of bytes.
_PACE_STEP = 0.02
_JOIN_TIMEOUT = 5.0
_CONTROL_BODY_LIMIT = 64 * 1024
_CONTROL_TIMEOUT = 10.0
# Faults that take nodes off the network; they end by starting the nodes again.
_DOWN = frozenset({"node_down", "system_down"})


@dataclass(eq=False)
class _Fault:
    """One fault that was switched on; compared by identity."""

    ident: int
    kind: str
    node: Node | None
    params: dict[str, float | None]
    expires: float | None
    remaining: int | None
    nodes: tuple[Node, ...] = ()
    rng: random.Random | None = None
    timer: threading.Timer | None = field(default=None, repr=False)
    #: Set when the fault was cleared, removed or timed out: held requests go.
    released: bool = False

    def applies_to(self, node: Node) -> bool:
        return self.node is None or self.node is node

    def describe(self, now: float) -> dict[str, Any]:
        left = None if self.expires is None else round(max(0.0, self.expires - now), 3)
        description: dict[str, Any] = {
            "id": self.ident,
            "fault": self.kind,
            "node": None if self.node is None else self.node.address,
        }
        description.update(self.params)
        if self.kind in _DOWN:
            description["nodes"] = [node.address for node in self.nodes]
        description["seconds_left"] = left
        description["count_left"] = self.remaining
        return description


class Faults:
    """The fault switches of one system, and the hooks its nodes call.

    Thread-safe: faults are switched from any thread while the nodes serve. Each switch returns
    the fault's id (for :meth:`remove`); the keyword ``seconds`` ends the fault that many
    seconds later and ``count`` after that many requests, whichever comes first. A subclass
    that keeps the switches must call ``super().__init__()``.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        # Replaced, never changed in place: the hooks read it without the lock.
        self._active: tuple[_Fault, ...] = ()
        self._ids = itertools.count(1)
        # Bumped by clear() so that every held or delayed request lets go.
        self._epoch = 0
        self._system: System | None = None
        self._closed = False
        # Held while nodes start again, so that close() can wait for a restart under way.
        self._restarting = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:
        # Subclasses that only override hooks may skip this class's __init__.
        return f"{type(self).__name__}({len(getattr(self, '_active', ()))} active)"

    def attach(self, system: System) -> None:
        """Tell the faults which system they belong to (needed by :meth:`system_down`).

        :param system: the system whose nodes call these hooks
        """
        self._system = system

    # -- switches -------------------------------------------------------------------------

    def node_down(self, node: Node, *, seconds: float | None = None) -> int:
        """Take a node off the network: its listening socket and open connections are closed,
        so clients get "connection refused" until the fault ends and the node starts again.

        :param node: the node
        :param seconds: start the node again after this many seconds; ``None`` waits for
            :meth:`clear` or :meth:`remove`
        """
        _check_limits(seconds, None)
        self._system = self._system or node.system
        node.stop()
        return self._add("node_down", node, {}, seconds, None, nodes=(node,))

    def system_down(self, *, seconds: float | None = None) -> int:
        """Take every node of the system off the network, as :meth:`node_down` does one.

        :param seconds: start the nodes again after this many seconds; ``None`` waits for
            :meth:`clear` or :meth:`remove`
        :raises RuntimeError: when the faults do not know their system (see :meth:`attach`)
        """
        _check_limits(seconds, None)
        if self._system is None:
            raise RuntimeError("Faults.attach(system) was not called: the nodes are unknown")
        nodes = tuple(self._system.nodes)
        for node in nodes:
            node.stop()
        return self._add("system_down", None, {}, seconds, None, nodes=nodes)

    def black_hole(
        self, node: Node, *, seconds: float | None = None, count: int | None = None
    ) -> int:
        """Make a node swallow requests: it accepts the connection and reads the request, then
        never answers. A swallowed request is held until the fault is cleared or removed, its
        time is up, the node stops or the system's ``request_timeout`` passes; then the
        connection is closed without an answer.

        :param node: the node
        :param seconds: the fault ends after this many seconds
        :param count: the fault ends after swallowing this many requests (those stay held)
        """
        _check_limits(seconds, count)
        return self._add("black_hole", node, {}, seconds, count)

    def error_rate(
        self,
        rate: float,
        status: int = 503,
        node: Node | None = None,
        *,
        seconds: float | None = None,
        count: int | None = None,
        seed: int | None = None,
    ) -> int:
        """Answer requests with an error status, each with probability ``rate``, instead of
        handling them. The answer has an empty body and an ``X-HCP-ErrorMessage``.

        :param rate: the probability, from 0 to 1, that a request gets the error
        :param status: the error status (400 to 599)
        :param node: only this node; ``None`` for every node of the system
        :param seconds: the fault ends after this many seconds
        :param count: the fault ends after this many requests were considered (refused or not)
        :param seed: seed of the fault's own random generator, for repeatable sequences: the
            n-th request considered is refused when the n-th ``random()`` is below ``rate``
        """
        _check_limits(seconds, count)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if not 400 <= status <= 599:
            raise ValueError("status must be an error status (400 to 599)")
        params: dict[str, float | None] = {"rate": rate, "status": status, "seed": seed}
        rng = random.Random(seed)
        return self._add("error_rate", node, params, seconds, count, rng=rng)

    def latency(
        self,
        delay: float,
        node: Node | None = None,
        *,
        seconds: float | None = None,
        count: int | None = None,
    ) -> int:
        """Wait before handling each request; latencies on a node and on all nodes add up.

        :param delay: the seconds added to each request
        :param node: only this node; ``None`` for every node of the system
        :param seconds: the fault ends after this many seconds
        :param count: the fault ends after delaying this many requests
        """
        _check_limits(seconds, count)
        if not delay >= 0:
            raise ValueError("delay must not be negative")
        return self._add("latency", node, {"delay": delay}, seconds, count)

    def bandwidth(
        self,
        bytes_per_second: float,
        node: Node | None = None,
        *,
        seconds: float | None = None,
        count: int | None = None,
    ) -> int:
        """Cap the speed of request and response bodies; the lowest cap that applies wins.

        :param bytes_per_second: the cap, for each body separately
        :param node: only this node; ``None`` for every node of the system
        :param seconds: the fault ends after this many seconds
        :param count: the fault ends after this many requests (request and response body)
        """
        _check_limits(seconds, count)
        if not bytes_per_second > 0:
            raise ValueError("bytes_per_second must be positive")
        params: dict[str, float | None] = {"bytes_per_second": bytes_per_second}
        return self._add("bandwidth", node, params, seconds, count)

    def cut_response(
        self,
        after_bytes: int | None = None,
        node: Node | None = None,
        *,
        count: int | None = 1,
        seconds: float | None = None,
    ) -> int:
        """Close the connection in the middle of a response body: the headers announce the full
        length, the client gets only the first ``after_bytes``. Bodies no longer than that
        are sent whole, and responses without a body are left alone; neither counts.

        :param after_bytes: the body bytes sent before the cut; ``None`` for half of the first
            piece written, which is half of any body up to 1 MiB
        :param node: only this node; ``None`` for every node of the system
        :param count: the fault ends after cutting this many responses
        :param seconds: the fault ends after this many seconds
        """
        _check_limits(seconds, count)
        if after_bytes is not None and after_bytes < 0:
            raise ValueError("after_bytes must not be negative")
        params: dict[str, float | None] = {"after_bytes": after_bytes}
        return self._add("cut_response", node, params, seconds, count)

    def reset_request(
        self,
        after_bytes: int,
        node: Node | None = None,
        *,
        count: int | None = 1,
        seconds: float | None = None,
    ) -> int:
        """Reset the connection after reading ``after_bytes`` of a request body: the node stops
        reading, drops what the request stored, and instead of answering closes the socket
        with ``SO_LINGER`` 0, so the client sees ECONNRESET (or EPIPE while still sending).
        Shorter bodies are handled normally and do not count.

        :param after_bytes: the body bytes read before the reset
        :param node: only this node; ``None`` for every node of the system
        :param count: the fault ends after resetting this many requests
        :param seconds: the fault ends after this many seconds
        """
        _check_limits(seconds, count)
        if after_bytes < 0:
            raise ValueError("after_bytes must not be negative")
        params: dict[str, float | None] = {"after_bytes": after_bytes}
        return self._add("reset_request", node, params, seconds, count)

    def remove(self, ident: int) -> bool:
        """End one fault; tell whether it was active.

        :param ident: the id a switch returned
        """
        for fault in self._active:
            if fault.ident == ident:
                return self._end(fault, "removed")
        return False

    def clear(self) -> int:
        """End every fault: nodes taken down start again and held requests are let go.

        :returns: the number of faults that were active
        """
        with self._changed:
            self._epoch += 1
            self._changed.notify_all()
        return sum(self._end(fault, "cleared") for fault in self._active)

    def close(self) -> None:
        """End every fault without starting nodes again; for a system that is stopping.

        When it returns no timer of a fault is left and no node is being started again, so
        nodes stopped afterwards stay stopped (until a fault is switched on again).
        """
        with self._changed:
            self._closed = True
        self.clear()
        with self._restarting:
            pass  # a restart that began before the faults were closed is over

    def active(self) -> list[dict[str, Any]]:
        """Describe the active faults, oldest first (JSON-ready: id, fault, node, the
        parameters, seconds_left and count_left)."""
        now = time.monotonic()
        for fault in self._active:
            if fault.expires is not None and now >= fault.expires:
                self._end(fault, "time limit")
        return [fault.describe(now) for fault in self._active]

    # -- hooks ----------------------------------------------------------------------------

    def on_connection(self, node: Node) -> None:
        """Called after ``node`` accepted a connection; no fault acts here (a node that is down
        has no listening socket at all).

        :param node: the node that accepted it
        """

    def before_request(self, node: Node, method: str, path: str) -> int | None:
        """Swallow, delay or refuse a request; a returned status is answered instead.

        :param node: the node that received the request
        :param method: the HTTP method
        :param path: the request path as sent (percent-encoded, without the query)
        :raises ConnectionAbortedError: when a black hole swallowed the request
        """
        self._local.rate = self._local.reset = None
        active = self._active
        if not active:
            return None
        self._swallow(node, active)
        delay = sum(_param(f, "delay") for f in self._take_all(node, active, "latency"))
        if delay > 0:
            self._pause(node, time.monotonic() + delay)
        caps = [_param(f, "bytes_per_second") for f in self._take_all(node, active, "bandwidth")]
        self._local.rate = min(caps) if caps else None
        return self._refusal(node, active, method, path)

    def wrap_request_body(self, node: Node, reader: Readable) -> Readable:
        """Return the reader the request body is read from: throttled or resetting.

        :param node: the node that received the request
        :param reader: the body reader
        """
        rate: float | None = getattr(self._local, "rate", None)
        resets = [f for f in self._active if f.kind == "reset_request" and f.applies_to(node)]
        if rate is None and not resets:
            return reader
        reset = min(resets, key=lambda f: _param(f, "after_bytes")) if resets else None
        return _FaultyReader(self, node, reader, rate, reset)

    def wrap_response_body(self, node: Node, writer: Writable) -> Writable:
        """Return the writer the response body is written to: throttled or cut.

        :param node: the node that answers
        :param writer: the connection's writer
        """
        rate: float | None = getattr(self._local, "rate", None)
        reset: socket.socket | None = getattr(self._local, "reset", None)
        self._local.rate = self._local.reset = None
        if reset is not None:
            # The answer to a request whose body a fault stopped: no answer, a reset.
            _reset(reset)
            return writer
        cuts = [f for f in self._active if f.kind == "cut_response" and f.applies_to(node)]
        if rate is None and not cuts:
            return writer
        return _FaultyWriter(self, node, writer, rate, cuts[0] if cuts else None)

    # -- bookkeeping ----------------------------------------------------------------------

    def _add(
        self,
        kind: str,
        node: Node | None,
        params: dict[str, float | None],
        seconds: float | None,
        count: int | None,
        *,
        nodes: tuple[Node, ...] = (),
        rng: random.Random | None = None,
    ) -> int:
        expires = None if seconds is None else time.monotonic() + seconds
        fault = _Fault(next(self._ids), kind, node, params, expires, count, nodes, rng)
        if kind in _DOWN and seconds is not None:
            fault.timer = threading.Timer(seconds, self._end, (fault, "time limit"))
            fault.timer.name = f"hcp-fault-timer-{fault.ident}"
            fault.timer.daemon = True
        with self._changed:
            self._closed = False
            self._active = (*self._active, fault)
        if fault.timer is not None:
            fault.timer.start()
        log.info("fault %d on: %s, %s", fault.ident, _summary(fault), _limits(fault))
        return fault.ident

    def _end(self, fault: _Fault, reason: str) -> bool:
        """End a fault once, whoever gets there first; undo what it did to the nodes."""
        with self._changed:
            if fault not in self._active:
                return False
            self._active = tuple(f for f in self._active if f is not fault)
            # Requests a black hole swallowed stay held when only its count ran out.
            fault.released = reason != "count used up"
            self._changed.notify_all()
            restart = self._restartable(fault)
        log.info("fault %d off (%s): %s", fault.ident, reason, _summary(fault))
        timer = fault.timer
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
            timer.join(_JOIN_TIMEOUT)
        self._restart(restart)
        return True

    def _restart(self, nodes: list[Node]) -> None:
        """Start nodes a fault took down again, unless the faults are closed."""
        if not nodes:
            return
        with self._restarting:
            if self._closed:
                return
            for node in nodes:
                try:
                    node.start()
                except OSError as exc:
                    log.warning("node %s could not start again: %s", node.address, exc)

    def _restartable(self, fault: _Fault) -> list[Node]:
        """The nodes an ending fault took down that no other active fault keeps down."""
        still_down = {id(n) for f in self._active if f.kind in _DOWN for n in f.nodes}
        return [node for node in fault.nodes if id(node) not in still_down]

    def _take(self, fault: _Fault) -> bool:
        """Use the fault for one request, if it is still active; count it."""
        with self._changed:
            if fault not in self._active:
                return False
            expired = fault.expires is not None and time.monotonic() >= fault.expires
            if not expired and fault.remaining is not None:
                fault.remaining -= 1
            spent = fault.remaining == 0
        if expired:
            self._end(fault, "time limit")
            return False
        if spent:
            self._end(fault, "count used up")
        return True

    def _take_all(self, node: Node, active: tuple[_Fault, ...], kind: str) -> list[_Fault]:
        return [f for f in active if f.kind == kind and f.applies_to(node) and self._take(f)]

    def _swallow(self, node: Node, active: tuple[_Fault, ...]) -> None:
        """Hold a request a black hole takes, then drop the connection without an answer."""
        for fault in active:
            if fault.kind == "black_hole" and fault.applies_to(node) and self._take(fault):
                limit = time.monotonic() + node.system.config.request_timeout
                until = limit if fault.expires is None else min(limit, fault.expires)
                log.debug("node %s: request held by fault %d", node.address, fault.ident)
                self._pause(node, until, fault)
                raise ConnectionAbortedError("the request was swallowed by an injected fault")

    def _refusal(
        self, node: Node, active: tuple[_Fault, ...], method: str, path: str
    ) -> int | None:
        for fault in active:
            if fault.kind != "error_rate" or not fault.applies_to(node):
                continue
            with self._changed:
                hit = fault.rng is not None and fault.rng.random() < _param(fault, "rate")
            if self._take(fault) and hit:
                status = int(_param(fault, "status"))
                log.debug("node %s: %s %s refused with %d", node.address, method, path, status)
                return status
        return None

    def _pause(self, node: Node, until: float, fault: _Fault | None = None) -> None:
        """Wait until ``until``, or less when the node stops or the fault is let go."""
        with self._changed:
            epoch = self._epoch
            while epoch == self._epoch and node.running:
                if fault is not None and fault.released:
                    return
                left = until - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(left, _POLL))


class _FaultyReader:
    """A request body reader that paces to a bandwidth and resets after a number of bytes."""

    def __init__(
        self,
        faults: Faults,
        node: Node,
        reader: Readable,
        rate: float | None,
        reset: _Fault | None,
    ) -> None:
        self._faults = faults
        self._node = node
        self._reader = reader
        self._rate = rate
        self._reset = reset
        self._reset_at = None if reset is None else int(_param(reset, "after_bytes"))
        self._step = None if rate is None else max(1, int(rate * _PACE_STEP))
        self._started = time.monotonic()
        self._seen = 0

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes of the body, slowly, or reset the connection.

        :raises HcpError: 503 when a reset fault stops the body here
        """
        size = CHUNK if size < 0 else size
        if self._reset_at is not None:
            if self._seen >= self._reset_at:
                self._reset_connection()
            size = min(size, self._reset_at - self._seen)
        if self._step is not None:
            size = min(size, self._step)
        data = self._reader.read(size)
        self._seen += len(data)
        if self._rate is not None:
            self._faults._pause(self._node, self._started + self._seen / self._rate)
        return data

    def _reset_connection(self) -> None:
        """Stop reading and fail the request; the reset itself waits for the answer.

        Resetting at once would let a client retry while the failed upload is still being
        undone (and get 409). The request fails here, the handler drops what it stored, and
        the connection is reset when the node is about to answer
        (:meth:`Faults.wrap_response_body`).
        """
        if self._reset is None or not self._faults._take(self._reset):
            # Another request used the fault up first: read on normally.
            self._reset_at = None
            return
        if isinstance(self._reader, BodyReader):
            self._reader.done = self._reader.broken = True
        sock = _connection_of(self._reader)
        if sock is None:
            log.warning(
                "node %s: no socket to reset; closing the connection instead", self._node.address
            )
        self._faults._local.reset = sock
        log.debug(
            "node %s: reset by fault %d after %d request body bytes",
            self._node.address,
            self._reset.ident,
            self._seen,
        )
        raise HcpError(503, "the connection was reset by an injected fault")


class _FaultyWriter:
    """A response body writer that paces to a bandwidth and cuts after a number of bytes."""

    def __init__(
        self,
        faults: Faults,
        node: Node,
        writer: Writable,
        rate: float | None,
        cut: _Fault | None,
    ) -> None:
        self._faults = faults
        self._node = node
        self._writer = writer
        self._rate = rate
        self._cut = cut
        self._limit: int | None = None
        self._step = None if rate is None else max(1, int(rate * _PACE_STEP))
        self._started = time.monotonic()
        self._sent = 0

    def write(self, data: bytes | memoryview, /) -> None:
        """Send ``data``, slowly, or send part of it and stop.

        :raises ConnectionAbortedError: after sending the bytes before a cut
        """
        view = memoryview(data).cast("B")
        if self._cut is not None and len(view) > 0:
            self._arm_cut(len(view))
        if self._limit is not None and self._sent + len(view) > self._limit:
            self._send(view[: self._limit - self._sent])
            log.debug("node %s: response cut after %d body bytes", self._node.address, self._sent)
            raise ConnectionAbortedError("the response was cut by an injected fault")
        self._send(view)

    def _arm_cut(self, first: int) -> None:
        """Decide at the first bytes of the body whether this response is the one cut."""
        cut, self._cut = self._cut, None
        if cut is None or not self._faults._take(cut):
            return
        after: float | None = cut.params["after_bytes"]
        self._limit = first // 2 if after is None else int(after)

    def _send(self, view: memoryview) -> None:
        if self._step is None or self._rate is None:
            self._writer.write(view)
            self._sent += len(view)
            return
        for offset in range(0, len(view), self._step):
            piece = view[offset : offset + self._step]
            self._writer.write(piece)
            self._sent += len(piece)
            self._faults._pause(self._node, self._started + self._sent / self._rate)


def _connection_of(reader: Readable) -> socket.socket | None:
    """Find the socket a body reader reads from.

    The hooks are not handed the connection, so it is reached through the reader's stream
    (the connection's buffered file, whose raw stream holds the socket).
    """
    stream = getattr(reader, "_stream", None)
    sock = getattr(getattr(stream, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _reset(sock: socket.socket) -> None:
    """Close the connection at once with a reset, leaving the socket object closed.

    The connection's file objects still refer to the socket, so closing the object would
    not close the descriptor; detaching it first lets the descriptor be closed now.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.close(sock.detach())


def _param(fault: _Fault, name: str) -> float:
    value = fault.params.get(name)
    return 0.0 if value is None else value


def _summary(fault: _Fault) -> str:
    where = "all nodes" if fault.node is None else fault.node.address
    if fault.kind in _DOWN:
        where = ", ".join(node.address for node in fault.nodes) or "no nodes"
    params = ", ".join(f"{name}={value}" for name, value in fault.params.items())
    return f"{fault.kind} on {where}" + (f" ({params})" if params else "")


def _limits(fault: _Fault) -> str:
    limits = []
    if fault.expires is not None:
        limits.append(f"{max(0.0, fault.expires - time.monotonic()):.3f} s")
    if fault.remaining is not None:
        limits.append(f"{fault.remaining} requests")
    return "for " + " or ".join(limits) if limits else "until cleared"


def _check_limits(seconds: float | None, count: int | None) -> None:
    if seconds is not None and not seconds > 0:
        raise ValueError("seconds must be positive")
    if count is not None and count < 1:
        raise ValueError("count must be at least 1")


# -- the control endpoint ------------------------------------------------------------------

#: The parameters each fault takes over the control endpoint, and whether each is a whole
#: number; ``node`` is a node address.
_CONTROL_PARAMETERS: dict[str, dict[str, bool]] = {
    "node_down": {"node": False, "seconds": False},
    "system_down": {"seconds": False},
    "black_hole": {"node": False, "seconds": False, "count": True},
    "error_rate": {
        "rate": False,
        "status": True,
        "node": False,
        "seconds": False,
        "count": True,
        "seed": True,
    },
    "latency": {"delay": False, "node": False, "seconds": False, "count": True},
    "bandwidth": {"bytes_per_second": False, "node": False, "seconds": False, "count": True},
    "cut_response": {"after_bytes": True, "node": False, "seconds": False, "count": True},
    "reset_request": {"after_bytes": True, "node": False, "seconds": False, "count": True},
}


def control_parameters() -> dict[str, list[str]]:
    """Return the faults the control endpoint switches on, each with its parameter names."""
    return {kind: list(names) for kind, names in _CONTROL_PARAMETERS.items()}


class ControlError(Exception):
    """The control endpoint refused a request.

    :param status: the HTTP status it answered
    :param message: its explanation
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


def handle_control(
    system: System, method: str, path: str, payload: Any = None
) -> tuple[int, dict[str, Any]]:
    """Answer one control request; the HTTP layer only moves JSON.

    ``GET /_emulator/faults`` lists the active faults, ``POST`` with
    ``{"fault": "latency", "delay": 0.002, ...}`` switches one on (the parameters of the
    :class:`Faults` method of that name; ``node`` is an address), ``DELETE`` ends them all and
    ``DELETE /_emulator/faults/<id>`` ends one.

    :param system: the system whose faults are switched
    :param method: the HTTP method
    :param path: the request path, without the query
    :param payload: the decoded JSON body of a POST
    :returns: the status and the JSON body of the answer
    """
    system.faults.attach(system)
    route = path.rstrip("/")
    if route == CONTROL_PATH:
        action = {"GET": _list, "DELETE": _clear, "POST": _switch_on}.get(method)
    elif route.startswith(CONTROL_PATH + "/"):
        action = _remove if method == "DELETE" else None
    else:
        return 404, {"error": f"nothing here; the faults are at {CONTROL_PATH}"}
    if action is None:
        return 405, {"error": f"{method} is not supported on {route}"}
    return action(system, route, payload)


def _list(system: System, route: str, payload: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"faults": system.faults.active()}


def _clear(system: System, route: str, payload: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"cleared": system.faults.clear()}


def _remove(system: System, route: str, payload: Any) -> tuple[int, dict[str, Any]]:
    ident = route.rpartition("/")[2]
    if ident.isdigit() and system.faults.remove(int(ident)):
        return 200, {"removed": int(ident)}
    return 404, {"error": f"no active fault has id {ident!r}"}


def _switch_on(system: System, route: str, payload: Any) -> tuple[int, dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("fault"), str):
        return 400, {"error": 'the body must be a JSON object with a "fault" name'}
    kind = payload["fault"]
    allowed = _CONTROL_PARAMETERS.get(kind)
    if allowed is None:
        return 400, {"error": f"unknown fault {kind!r}; known: {', '.join(_CONTROL_PARAMETERS)}"}
    try:
        params = {
            name: _control_value(system, name, value, allowed)
            for name, value in payload.items()
            if name != "fault"
        }
        ident = getattr(system.faults, kind)(**params)
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 201, {"id": ident, "faults": system.faults.active()}


def _control_value(system: System, name: str, value: Any, allowed: dict[str, bool]) -> Any:
    """Check and convert one parameter; numbers may come as JSON numbers or strings."""
    if name not in allowed:
        raise ValueError(f"unknown parameter {name!r}; this fault takes {', '.join(allowed)}")
    if value is None:
        return None
    if name == "node":
        for node in system.nodes:
            if node.address == value:
                return node
        raise ValueError(f"no node has the address {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not allowed[name]:
        return number
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number")
    return int(number)


class _ControlHTTPServer(ThreadingHTTPServer):
    # Handler threads are joined when the server closes, so none outlives it.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], system: System) -> None:
        super().__init__(address, _ControlHandler)
        self.system = system


class _ControlHandler(BaseHTTPRequestHandler):
    """Moves JSON between HTTP and :func:`handle_control`; one request per connection."""

    server: _ControlHTTPServer
    timeout = _CONTROL_TIMEOUT

    def do_GET(self) -> None:
        self._answer(None)

    def do_DELETE(self) -> None:
        self._answer(None)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _CONTROL_BODY_LIMIT:
            self._reply(413, {"error": "the body must have a length up to 64 KiB"})
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._reply(400, {"error": "the body is not JSON"})
            return
        self._answer(payload)

    def _answer(self, payload: Any) -> None:
        path = self.path.partition("?")[0]
        status, body = handle_control(self.server.system, self.command, path, payload)
        self._reply(status, body)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Send the access log to DEBUG instead of standard error."""
        log.debug("control: " + format, *args)


class ControlServer:
    """Serves :func:`handle_control` over HTTP on an address and port of its own, away from
    the namespace hosts (whose paths belong to HCP).

    :param system: the system whose faults are switched
    :param address: the address to bind
    :param port: the port, 0 for any free one
    """

    def __init__(self, system: System, address: str = "127.0.0.1", port: int = 0) -> None:
        self.system = system
        self.address = address
        self.port = port
        self._server: _ControlHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"ControlServer({self.address}:{self.port}, {state})"

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (``http://address:port``); the faults are at :data:`CONTROL_PATH`."""
        return f"http://{self.address}:{self.port}"

    def start(self) -> ControlServer:
        """Bind and serve in a thread.

        :raises OSError: when the address and port cannot be bound
        """
        if self._server is not None:
            return self
        self.system.faults.attach(self.system)
        server = _ControlHTTPServer((self.address, self.port), self.system)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL},
            name=f"hcp-fault-control-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("fault control listening on %s%s", self.url, CONTROL_PATH)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the threads."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)


def control(url: str, fault: str, **params: Any) -> dict[str, Any]:
    """Send one request to a :class:`ControlServer` and return its JSON answer.

    ``fault`` is a :class:`Faults` method name (``latency``, ``error_rate``, ...) to switch
    that fault on with ``params``, or ``list`` (the active faults), ``clear`` (end all) or
    ``remove`` with ``id=<fault id>``. Numbers may be given as strings.

    :param url: the control server's base URL, e.g. ``http://127.0.0.1:9099``
    :param fault: what to do
    :param params: the fault's parameters
    :raises ControlError: when the server refuses the request
    :raises urllib3.exceptions.HTTPError: when the server cannot be reached
    """
    base = url.rstrip("/") + CONTROL_PATH
    body: bytes | None = None
    if fault == "list":
        method, target = "GET", base
    elif fault == "clear":
        method, target = "DELETE", base
    elif fault == "remove":
        method, target = "DELETE", f"{base}/{params.get('id')}"
    else:
        method, target = "POST", base
        body = json.dumps({"fault": fault, **params}).encode("utf-8")
    response = urllib3.request(
        method,
        target,
        body=body,
        headers={"Content-Type": "application/json"},
        timeout=_CONTROL_TIMEOUT,
        retries=False,
    )
    try:
        answer = json.loads(response.data or b"{}")
    except ValueError:
        answer = {}
    if response.status >= 400 or not isinstance(answer, dict):
        message = answer.get("error", "") if isinstance(answer, dict) else ""
        refused = f"HTTP {response.status}, and no answer of a fault control endpoint"
        raise ControlError(response.status, str(message) or refused)
    return answer
