"""The request and response values passed between the HTTP server and the interfaces.

The server builds a :class:`Request` whose body is a :class:`BodyReader` (``Content-Length``,
chunked, or none), hands it to the system, and writes the :class:`Response` it gets back. The
interfaces never see sockets.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from email.message import Message
from typing import Protocol
from urllib.parse import unquote

from hcpfs.emulator.errors import HcpError

CHUNK = 1024 * 1024


class Readable(Protocol):
    """Anything with ``read(n)`` that returns ``b""`` at the end (a socket file, a reader)."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes."""
        ...


class Writable(Protocol):
    """Anything with ``write(data)`` (a socket file, a fault wrapper)."""

    def write(self, data: bytes | memoryview, /) -> object:
        """Send all of ``data``."""
        ...


class BodyReader:
    """A request body: ``read(n)`` returns ``b""`` once the body is complete.

    The first read sends ``100 Continue`` when the client asked for it, so a request refused
    before its body is read never makes the client send the body.

    :param stream: the connection's input
    :param length: the ``Content-Length``, or ``None`` for a chunked body
    :param on_first_read: called before the first read (sends the interim response)
    """

    def __init__(
        self,
        stream: Readable,
        length: int | None,
        on_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self._remaining = length
        self._on_first_read = on_first_read
        self._chunk_left = 0
        self.done = length == 0
        self.started = False
        self.broken = False
        self.received = 0

    @property
    def remaining(self) -> int | None:
        """Bytes still expected from a ``Content-Length`` body; ``None`` when chunked."""
        return self._remaining

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes of the body (``b""`` at its end).

        :raises HcpError: 503 when the connection ends before the announced length
        """
        if self.done:
            return b""
        if not self.started:
            self.started = True
            if self._on_first_read is not None:
                self._on_first_read()
        size = CHUNK if size < 0 else size
        if self._remaining is None:
            return self._read_chunked(size)
        data = self._read_exact(min(size, self._remaining))
        self._remaining -= len(data)
        self.done = self._remaining == 0
        return data

    def _read_exact(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except (TimeoutError, OSError) as exc:
            self.done = self.broken = True
            raise HcpError(503, "the request body did not arrive") from exc
        self.received += len(data)
        if len(data) < size:
            self.done = self.broken = True
            raise HcpError(503, "the request body is shorter than Content-Length")
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            self._chunk_left = self._chunk_size()
            if self._chunk_left == 0:
                self._skip_trailers()
                self.done = True
                return b""
        data = self._read_exact(min(size, self._chunk_left))
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._read_exact(2)
        return data

    def _chunk_size(self) -> int:
        line = self._line()
        try:
            return int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            self.done = self.broken = True
            raise HcpError(400, "malformed chunked request body") from None

    def _skip_trailers(self) -> None:
        for _ in range(100):
            if self._line() in (b"\r\n", b"\n", b""):
                return
        raise HcpError(400, "too many trailer lines")

    def _line(self) -> bytes:
        readline = getattr(self._stream, "readline", None)
        if readline is not None:
            line: bytes = readline(1024)
            return line
        parts: list[bytes] = []
        while not parts or parts[-1] != b"\n":
            piece = self._stream.read(1)
            if not piece or len(parts) > 1024:
                break
            parts.append(piece)
        return b"".join(parts)

    def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body if at most ``limit`` bytes; tell if done."""
        try:
            while not self.done and limit > 0:
                limit -= len(self.read(min(CHUNK, limit)))
        except HcpError:
            return False
        return self.done


def chunks(reader: Readable, size: int = CHUNK) -> Iterator[bytes]:
    """Yield a reader's bytes in pieces until it is exhausted."""
    while True:
        data = reader.read(size)
        if not data:
            return
        yield data


def gunzip(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream as it arrives.

    :raises HcpError: 400 when the body is not gzip data
    """
    inflater = zlib.decompressobj(wbits=31)
    try:
        for piece in pieces:
            data = inflater.decompress(piece)
            while inflater.unconsumed_tail:
                yield data
                data = inflater.decompress(inflater.unconsumed_tail)
            if data:
                yield data
        tail = inflater.flush()
    except zlib.error as exc:
        raise HcpError(400, "Content-Encoding is gzip but the body is not gzip data") from exc
    if not inflater.eof:
        raise HcpError(400, "the gzip body is incomplete")
    if tail:
        yield tail


def parse_query(raw: str) -> dict[str, str]:
    """Parse a query string; ``+`` stays a plus sign and only the first of a repeated name
    counts. A name without ``=`` gets the empty string.
    """
    result: dict[str, str] = {}
    if not raw:
        return result
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        result.setdefault(unquote(name), unquote(value))
    return result


class Request:
    """One HTTP request as the interfaces see it.

    :param method: the HTTP method
    :param path: the decoded path (``/rest/dir/name``)
    :param raw_path: the path as sent, percent-encoded, without the query
    :param query: the query parameters
    :param headers: the request headers (case-insensitive ``get``)
    :param body: the request body
    :param host: the ``Host`` header in lower case, without a port
    :param node: the address of the node that received it
    """

    __slots__ = (
        "_index",
        "body",
        "headers",
        "host",
        "method",
        "node",
        "path",
        "query",
        "raw_path",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        headers: Message,
        body: Readable,
        host: str,
        node: str,
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.body = body
        self.host = host
        self.node = node
        # One pass over the headers instead of a linear search per lookup; the first
        # occurrence of a repeated header wins, as HCP documents.
        self._index = {name.lower(): value for name, value in reversed(headers.items())}

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), if present."""
        return self._index.get(name.lower())


class Response:
    """What to answer.

    :param status: the HTTP status
    :param headers: response-specific headers (the server adds the common ones)
    :param body: a small body sent as it is
    :param stream: a large body, sent piece by piece
    :param length: the body length for ``Content-Length`` (for HEAD: the length GET would
        have); ``None`` with a stream means chunked transfer
    :param message: the ``X-HCP-ErrorMessage`` of an error
    """

    __slots__ = ("body", "headers", "length", "message", "status", "stream")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        *,
        stream: Iterable[bytes | memoryview] | None = None,
        length: int | None = -1,
        message: str = "",
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body
        self.stream = stream
        if length == -1:
            length = None if stream is not None else len(body)
        self.length = length
        self.message = message

    @classmethod
    def error(cls, error: HcpError) -> Response:
        """Return the empty-bodied response for a refusal."""
        return cls(error.status, message=error.message)
