"""When a failed request may be sent again, and how its body is sent again.

A request is only repeated when repeating it cannot do harm: the method is idempotent and the
body can be sent again from the same place. The one exception is a request that never reached
a node (the connection could not be opened), since nothing of it was sent.
"""

from __future__ import annotations

import enum
import io
import logging
from collections.abc import Iterable
from typing import IO, Protocol, TypeAlias, runtime_checkable

log = logging.getLogger(__name__)

#: Methods whose repetition has the same effect as sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT"})

#: What a request body may be.
Body: TypeAlias = bytes | bytearray | memoryview | str | IO[bytes] | Iterable[bytes] | None

#: What the pool is given to send: text is encoded, everything else passes as it is.
WireBody: TypeAlias = bytes | IO[bytes] | Iterable[bytes] | None


class Failure(enum.Enum):
    """How an attempt on one node failed."""

    #: The connection could not be opened (refused, unreachable, connect timeout).
    CONNECT = "connect"
    #: The node took longer than the timeout to answer.
    TIMEOUT = "timeout"
    #: The connection broke after the request was (partly) sent.
    BROKEN = "broken"
    #: The node answered 503 Service Unavailable.
    BUSY = "busy"
    #: The node's TLS certificate did not verify; every node of a system shares it.
    CERTIFICATE = "certificate"


#: Failures after which a node is avoided for a while.
MARKS_NODE_DOWN = frozenset({Failure.CONNECT, Failure.TIMEOUT})

#: Failures after which this request does not go to the same node again.
EXCLUDES_NODE = frozenset({Failure.CONNECT, Failure.TIMEOUT, Failure.BUSY})


def may_retry(method: str, failure: Failure, rewindable: bool) -> bool:
    """Decide whether a request that failed this way may be sent again.

    :param method: the HTTP method, upper case
    :param failure: how the attempt failed
    :param rewindable: whether the body can be sent again from its start
    """
    if failure is Failure.CERTIFICATE:
        return False
    if failure is Failure.CONNECT:
        return True
    return method in IDEMPOTENT_METHODS and rewindable


@runtime_checkable
class _Seekable(Protocol):
    def seekable(self) -> bool: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...


class Payload:
    """A request body that remembers where it started, so it can be sent again.

    Bytes and text can always be sent again; a seekable file is sent again from the position
    it had when the request started; other iterables and streams cannot.

    :param body: the body as given by the caller
    """

    def __init__(self, body: Body) -> None:
        self._stream: _Seekable | None = None
        self._start = 0
        #: Bytes the body holds, when that can be known without reading it.
        self.length: int | None = None
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        self.body: WireBody = body
        if body is None or isinstance(body, bytes):
            self.length = 0 if body is None else len(body)
            self.rewindable = True
            return
        self.rewindable = False
        if isinstance(body, _Seekable):
            self._remember_position(body)

    def _remember_position(self, stream: _Seekable) -> None:
        try:
            if not stream.seekable():
                return
            start = stream.tell()
            end = stream.seek(0, io.SEEK_END)
            stream.seek(start)
        except (OSError, ValueError):
            return
        self._stream = stream
        self._start = start
        self.length = end - start
        self.rewindable = True

    def rewind(self) -> None:
        """Go back to where the body started; a no-op for bytes."""
        if self._stream is not None:
            self._stream.seek(self._start)
