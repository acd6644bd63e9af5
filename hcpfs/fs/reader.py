"""Reading one object through one handle: ranged GETs, read-ahead, parallel parts.

docs/SEMANTICS.md §8.6: a read at the offset where the previous one ended, or within what was
already requested, continues a stream and doubles the read-ahead window, up to a maximum; the
window is fetched ahead of the program in parts that a thread pool requests in parallel, and
one window is kept behind for requests that arrive late. Any other read fetches just what was
asked. Every request carries ``If-Match`` with the ETag seen at open, so the data never mixes
versions.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from hcpfs.fs.backend import Backend


@dataclass(frozen=True)
class ReadAhead:
    """Sizes that steer read-ahead, in bytes.

    :param minimum: the window after a random read
    :param maximum: the largest window
    :param part_size: the largest single request
    """

    minimum: int
    maximum: int
    part_size: int


@dataclass(frozen=True)
class _Part:
    start: int
    length: int
    future: Future[bytes]

    @property
    def end(self) -> int:
        return self.start + self.length


class ObjectReader:
    """Reads one object, for one open handle. Safe to call from several threads.

    :param backend: where to read from
    :param path: the object's path (updated by the filesystem on rename)
    :param size: the object's size at open
    :param etag: the object's ETag at open, sent as ``If-Match``
    :param pool: the threads that run the requests
    :param data: the whole object, when it was fetched already (read from it, not from HCP)
    """

    def __init__(
        self,
        backend: Backend,
        path: str,
        size: int,
        etag: str | None,
        *,
        pool: Executor,
        readahead: ReadAhead,
        data: bytes | None = None,
    ) -> None:
        self.path = path
        self.size = size
        self._backend = backend
        self._etag = etag
        self._pool = pool
        self._readahead = readahead
        self._lock = threading.Lock()
        self._parts: deque[_Part] = deque()
        self._next = 0
        self._window = readahead.minimum
        if data is not None and len(data) == size:
            held: Future[bytes] = Future()
            held.set_result(data)
            self._parts.append(_Part(0, size, held))

    def read(self, offset: int, length: int) -> bytes | memoryview:
        """Return up to ``length`` bytes from ``offset``; fewer only at the end of the object.

        :param offset: where to start
        :param length: how many bytes
        :raises BackendError: as the backend raised it (412 when the object changed)
        """
        if offset >= self.size or length <= 0:
            return b""
        end = min(offset + length, self.size)
        with self._lock:
            # The kernel sends read-ahead requests from several threads, so a sequential
            # reader's requests may arrive slightly out of order: anything inside the parts
            # already requested continues the stream.
            if not (offset == self._next or self._near(offset)):
                if not (self._parts and offset < self._next):
                    # A jump ahead or a first read: a new stream may start here.
                    self._reset()
                    self._next = end
                    self._window = self._readahead.minimum
                # Behind the stream: a late request or a random read; the stream goes on.
                return self._fetch_now(offset, end)
            if end > self._next:
                self._next = end
                self._window = min(self._window * 2, self._readahead.maximum)
            self._drop_before(offset - max(self._window, self._readahead.part_size))
            self._extend(offset, end)
            return self._collect(offset, end)

    def close(self) -> None:
        """Cancel read-ahead that has not started."""
        with self._lock:
            self._reset()

    def _near(self, offset: int) -> bool:
        """Tell whether ``offset`` lies in, or up to a window past, what is requested already."""
        if not self._parts:
            return False
        ahead = max(self._next, self._parts[-1].end) + self._window
        return self._parts[0].start <= offset <= ahead

    def _drop_before(self, limit: int) -> None:
        # Parts just behind the reader stay, for requests that arrive late.
        while self._parts and self._parts[0].end <= limit:
            self._parts.popleft().future.cancel()

    def _reset(self) -> None:
        while self._parts:
            self._parts.popleft().future.cancel()

    def _extend(self, offset: int, end: int) -> None:
        # Fetch more only when less than half a window is left ahead, so that parts stay large.
        start = self._parts[-1].end if self._parts else offset
        if start >= end and start - self._next >= self._window // 2:
            return
        # Whole parts only, so that no small request is left over between two extensions.
        unit = min(self._readahead.part_size, self._window)
        target = min(self.size, start + -(-(self._next + self._window - start) // unit) * unit)
        while start < target:
            length = min(unit, target - start)
            self._parts.append(_Part(start, length, self._submit(start, length)))
            start += length

    def _collect(self, offset: int, end: int) -> bytes | memoryview:
        # Within one part (the usual case) the answer is a view of the part: the bytes are
        # copied once, into the kernel's buffer, not first into a slice.
        pieces = []
        for part in self._parts:
            if part.end <= offset:
                continue
            if part.start >= end:
                break
            data = memoryview(part.future.result())
            pieces.append(data[max(0, offset - part.start) : end - part.start])
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _fetch_now(self, offset: int, end: int) -> bytes:
        starts = range(offset, end, self._readahead.part_size)
        futures = [
            self._submit(start, min(self._readahead.part_size, end - start)) for start in starts
        ]
        return b"".join(future.result() for future in futures)

    def _submit(self, start: int, length: int) -> Future[bytes]:
        return self._pool.submit(self._backend.read, self.path, start, length, self._etag)
