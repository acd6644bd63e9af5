"""Streamed uploads: a new file's data sent to HCP while it is being written (§8.8).

A new file written from start to end is also sent, as it is written, in one PUT with a chunked
body; its close then only waits for HCP's answer instead of sending the whole file. The staged
copy is still written and stays the reference: the upload is abandoned (the request is cut off,
so HCP stores nothing) as soon as the file is changed in any other way, and whatever goes wrong
with a streamed upload, the close falls back to the ordinary upload from the staged copy.

Each streamed upload has one thread that sends the body; writers hand it their data through a
small queue and wait while the queue is full, so a slow HCP slows the writer down instead of
filling memory.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hcpfs.fs.backend import Backend, ObjectInfo, ObjectSettings
from hcpfs.fs.staging import StagedFile

log = logging.getLogger(__name__)

STREAM_AFTER = 8 * 1024 * 1024
"""A new file is streamed once this many bytes were written to it in order; smaller files are
uploaded at close in one request, which costs them less."""
MOST_STREAMS = 8
"""Streamed uploads at the same time; files beyond that are uploaded at close."""
QUEUED_WRITES = 8
"""Writes a streamed upload holds in memory before a writer has to wait."""
STALL_SECONDS = 60.0
"""A streamed upload is abandoned when no data went in or out for this long: its writer
paused, or HCP stopped taking data. The file is then uploaded at close."""

_POLL = 0.25
_READ_PIECE = 1024 * 1024


class AbandonedError(Exception):
    """A streamed upload was given up; raised inside its body, so the PUT is cut off."""


@dataclass(frozen=True)
class Outcome:
    """How a streamed upload ended: HCP's description of the object, or the error."""

    info: ObjectInfo | None
    error: Exception | None


class StreamedUpload:
    """One PUT whose body is a file's data as it is written.

    :param backend: where to store
    :param path: the file's path
    :param staged: the staged data; what it holds when the upload starts is sent from it
    :param settings: the new object's settings
    :param done: released once when the upload's thread ends
    """

    def __init__(
        self,
        backend: Backend,
        path: str,
        staged: StagedFile,
        settings: ObjectSettings,
        done: threading.Semaphore,
    ) -> None:
        self.path = path
        self.settings = settings
        #: Bytes of the file handed to the upload so far (from the staged copy, then written).
        self.fed = staged.size
        self._backend = backend
        self._staged = staged
        self._initial = staged.size
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED_WRITES)
        self._abandoned = threading.Event()
        self._ended = threading.Event()
        self._outcome = Outcome(None, None)
        self._done = done
        self._thread = threading.Thread(target=self._run, name="hcpfs-upload", daemon=True)

    def __repr__(self) -> str:
        return f"StreamedUpload({self.path!r}, fed={self.fed})"

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def feed(self, data: bytes) -> bool:
        """Hand over data written at the end of the file, waiting while the queue is full.

        :param data: the bytes written, following the :attr:`fed` bytes before them
        :return: False when the upload ended or stalled and cannot take it (it is then over)
        """
        if not data:
            return not self._ended.is_set()
        if not self._put(data):
            return False
        self.fed += len(data)
        return True

    def finish(self) -> Outcome:
        """Mark the end of the data and wait for HCP's answer (within the stall limit per step).

        :return: the stored object, or the error that ended the upload
        """
        if not self._put(None):
            self.abandon()
        self._thread.join(STALL_SECONDS)
        if self._thread.is_alive():
            self.abandon()
            return Outcome(None, TimeoutError("no answer to the upload"))
        return self._outcome

    def abandon(self) -> None:
        """Give the upload up: cut the request off and wait for its thread to end."""
        self._abandoned.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wakes the thread up if it waits for data
        self._thread.join(STALL_SECONDS + _POLL)
        if self._thread.is_alive():
            log.warning("the upload thread of %s did not end in time", self.path)

    def _put(self, item: bytes | None) -> bool:
        deadline = time.monotonic() + STALL_SECONDS
        while not self._ended.is_set() and time.monotonic() < deadline:
            try:
                self._queue.put(item, timeout=_POLL)
            except queue.Full:
                continue
            return True
        if not self._ended.is_set():
            log.info("upload of %s stalled for %.0f s; giving it up", self.path, STALL_SECONDS)
            self.abandon()
        return False

    def _run(self) -> None:
        started = time.monotonic()
        try:
            info = self._backend.store_stream(self.path, self._body(), self.settings)
            self._outcome = Outcome(info, None)
        except Exception as error:  # any failure: the close uploads from the staged copy
            self._outcome = Outcome(None, error)
        finally:
            self._ended.set()
            self._done.release()
        log.debug(
            "streamed upload of %s ended after %.0f ms: %s",
            self.path,
            (time.monotonic() - started) * 1e3,
            self._outcome.error or "stored",
        )

    def _body(self) -> Iterator[bytes]:
        """The data: what was staged before the upload started, then each write as it comes."""
        offset = 0
        while offset < self._initial:
            self._check()
            piece = self._staged.read(offset, min(_READ_PIECE, self._initial - offset))
            if not piece:
                raise AbandonedError("the staged data is shorter than expected")
            offset += len(piece)
            yield piece
        while (item := self._next()) is not None:
            yield item

    def _next(self) -> bytes | None:
        """The next write, or None at the end of the data."""
        deadline = time.monotonic() + STALL_SECONDS
        while time.monotonic() < deadline:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                self._check()
                continue
            self._check()
            return item
        raise AbandonedError(f"nothing was written for {STALL_SECONDS:.0f} s")

    def _check(self) -> None:
        if self._abandoned.is_set():
            raise AbandonedError("the file changed otherwise than by writing at its end")


class Streams:
    """Starts streamed uploads, at most :data:`MOST_STREAMS` at a time.

    :param backend: where to store
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._slots = threading.BoundedSemaphore(MOST_STREAMS)

    def start(
        self, path: str, staged: StagedFile, settings: ObjectSettings
    ) -> StreamedUpload | None:
        """Start streaming a new file whose first ``staged.size`` bytes are staged.

        :return: the upload, or None when as many uploads stream already
        """
        if not self._slots.acquire(blocking=False):
            return None
        upload = StreamedUpload(self._backend, path, staged, settings, self._slots)
        try:
            upload.start()
        except RuntimeError:
            self._slots.release()
            raise
        log.debug("streaming %s from byte %d on", path, staged.size)
        return upload
