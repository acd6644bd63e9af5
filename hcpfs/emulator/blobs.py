"""Where object and annotation bytes live: in memory, or as files of a data directory.

A :class:`Blob` is immutable once written. Uploads go through a :class:`BlobWriter` that hashes
the bytes as they stream by (MD5 for the ETag and the namespace's hash scheme for
``X-HCP-Hash``) so a body is never held twice.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import mmap
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_HASH_NAMES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
    "RIPEMD-160": "ripemd160",
}
# Hashing releases the GIL for large buffers: MD5 of big chunks runs on a helper thread while
# the request thread computes the namespace hash and reads the next chunk.
_PARALLEL_MIN = 256 * 1024
# A Content-Length is only a claim: larger bodies grow their buffer as the bytes arrive.
_PREALLOCATE_MAX = 1024**3
_hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hcp-hash")


class Blob:
    """Immutable bytes of one object version or annotation.

    :param key: the name under which a data directory keeps it (empty in memory)
    :param size: the number of bytes
    """

    __slots__ = ("key", "size")

    def __init__(self, key: str, size: int) -> None:
        self.key = key
        self.size = size

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[bytes | memoryview]:
        """Yield the bytes from ``start`` up to ``stop`` in pieces of at most 1 MiB."""
        raise NotImplementedError

    def read(self) -> bytes:
        """Return all the bytes (only for small blobs such as annotations)."""
        return b"".join(self.chunks())


class MemoryBlob(Blob):
    """Bytes held in memory: one buffer, or the pieces a body arrived in (never joined, so a
    large chunked upload is not copied once more at its end)."""

    __slots__ = ("_parts", "_starts")

    def __init__(self, data: bytes | memoryview | Sequence[bytes | memoryview]) -> None:
        parts = (data,) if isinstance(data, (bytes, memoryview)) else tuple(data)
        starts = list(itertools.accumulate((len(part) for part in parts), initial=0))
        super().__init__("", starts[-1])
        self._parts = parts or (b"",)
        self._starts = starts

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[bytes | memoryview]:
        stop = self.size if stop is None else stop
        if len(self._parts) == 1 and stop - start <= CHUNK:
            yield self._parts[0][start:stop]
            return
        index = max(bisect.bisect_right(self._starts, start) - 1, 0)
        offset = start
        while offset < stop and index < len(self._parts):
            view = memoryview(self._parts[index])
            first = self._starts[index]
            end = min(len(view), stop - first)
            for piece in range(offset - first, end, CHUNK):
                yield view[piece : min(piece + CHUNK, end)]
            offset = first + end
            index += 1


class FileBlob(Blob):
    """Bytes in a file of the data directory."""

    __slots__ = ("path",)

    def __init__(self, key: str, size: int, path: Path) -> None:
        super().__init__(key, size)
        self.path = path

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[bytes | memoryview]:
        stop = self.size if stop is None else stop
        with self.path.open("rb", buffering=0) as stream:
            stream.seek(start)
            remaining = stop - start
            while remaining > 0:
                piece = stream.read(min(CHUNK, remaining))
                if not piece:
                    raise OSError(f"blob {self.key} is shorter than recorded")
                remaining -= len(piece)
                yield piece


class Digest:
    """The MD5 and namespace hash of a byte stream, computed as it goes by.

    :param scheme: the namespace hash scheme (``SHA-256`` ...)
    """

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self._md5 = hashlib.md5()
        self._hash: Any = hashlib.new(_HASH_NAMES[scheme])
        self._pending: Future[None] | None = None

    def update(self, chunk: bytes | memoryview) -> None:
        """Add the next piece of the stream."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        if len(chunk) >= _PARALLEL_MIN:
            self._pending = _hash_pool.submit(self._md5.update, chunk)
        else:
            self._md5.update(chunk)
        self._hash.update(chunk)

    def finish(self) -> tuple[str, str]:
        """Return the lowercase MD5 hex (the ETag) and the upper-case namespace hash hex."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return self._md5.hexdigest(), self._hash.hexdigest().upper()


class BlobWriter:
    """Receives the bytes of one upload; ``commit`` makes them a :class:`Blob`."""

    def __init__(self, scheme: str) -> None:
        self.digest = Digest(scheme)
        self.size = 0
        self.etag = ""
        self.hash = ""

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a piece of the body."""
        self.digest.update(chunk)
        self.size += len(chunk)
        self._store(chunk)

    def commit(self) -> Blob:
        """Finish the upload and return its blob; ``etag`` and ``hash`` are set from then on."""
        self.etag, self.hash = self.digest.finish()
        return self._finish()

    def _store(self, chunk: bytes | memoryview) -> None:
        raise NotImplementedError

    def _finish(self) -> Blob:
        raise NotImplementedError

    def abort(self) -> None:
        """Throw away what was written."""


class _MemoryWriter(BlobWriter):
    """Collects a body in one buffer of the announced size, or in pieces."""

    def __init__(self, scheme: str, size_hint: int | None) -> None:
        super().__init__(scheme)
        # An anonymous mapping of the announced size is filled in place: fresh memory is
        # touched once, by the copy, instead of by zero-filling, copying and joining.
        size = min(size_hint or 0, _PREALLOCATE_MAX)
        self._buffer: mmap.mmap | None = mmap.mmap(-1, size) if size > CHUNK else None
        self._parts: list[bytes] = []
        self._filled = 0

    def _store(self, chunk: bytes | memoryview) -> None:
        end = self._filled + len(chunk)
        if self._buffer is not None and end <= len(self._buffer):
            self._buffer[self._filled : end] = chunk
        else:
            self._spill()
            self._parts.append(bytes(chunk))
        self._filled = end

    def _spill(self) -> None:
        """Move what the buffer holds into the list of pieces (the body outgrew its claim)."""
        if self._buffer is not None:
            self._parts.append(self._buffer[: self._filled])
            self._buffer = None

    def _finish(self) -> Blob:
        buffer, self._buffer = self._buffer, None
        if buffer is not None:
            return MemoryBlob(memoryview(buffer)[: self._filled].toreadonly())
        parts, self._parts = self._parts, []
        return MemoryBlob(parts)

    def abort(self) -> None:
        self._buffer = None
        self._parts = []


class _FileWriter(BlobWriter):
    def __init__(self, scheme: str, store: FileBlobs) -> None:
        super().__init__(scheme)
        self._store_dir = store
        self.key = uuid.uuid4().hex
        self._temp = store.temp_dir / self.key
        self._file = self._temp.open("wb", buffering=0)

    def _store(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)

    def _finish(self) -> Blob:
        self._file.close()
        final = self._store_dir.path_of(self.key)
        final.parent.mkdir(exist_ok=True)
        self._temp.replace(final)
        return FileBlob(self.key, self.size, final)

    def abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


class Blobs:
    """Creates, copies and removes blobs; the memory flavour keeps everything in RAM."""

    def writer(self, scheme: str, size_hint: int | None = None) -> BlobWriter:
        """Return a writer for a new blob hashed with ``scheme``.

        :param size_hint: the expected size, when the request announced it
        """
        return _MemoryWriter(scheme, size_hint)

    def clone(self, blob: Blob) -> Blob:
        """Return a blob with the same bytes that can be discarded independently."""
        return blob

    def discard(self, blob: Blob, shred: bool = False) -> None:
        """Forget a blob; with ``shred`` its bytes are overwritten first where that applies."""

    def restore(self, key: str, size: int) -> Blob:
        """Return the blob a data directory recorded under ``key``."""
        raise NotImplementedError

    def clear(self) -> None:
        """Remove every blob."""


class FileBlobs(Blobs):
    """Blobs as files under ``<data dir>/blobs``; uploads land in ``<data dir>/tmp`` first.

    :param root: the data directory
    """

    def __init__(self, root: Path) -> None:
        self.blob_dir = root / "blobs"
        self.temp_dir = root / "tmp"
        self._lock = threading.Lock()
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        # Whatever is in tmp belongs to uploads that never finished.
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.temp_dir.mkdir()

    def path_of(self, key: str) -> Path:
        """Return the file that holds blob ``key``."""
        return self.blob_dir / key[:2] / key

    def writer(self, scheme: str, size_hint: int | None = None) -> BlobWriter:
        return _FileWriter(scheme, self)

    def clone(self, blob: Blob) -> Blob:
        key = uuid.uuid4().hex
        target = self.path_of(key)
        target.parent.mkdir(exist_ok=True)
        source = self.path_of(blob.key)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return FileBlob(key, blob.size, target)

    def discard(self, blob: Blob, shred: bool = False) -> None:
        path = self.path_of(blob.key)
        try:
            if shred and path.stat().st_nlink == 1:
                _overwrite(path, blob.size)
            path.unlink()
        except FileNotFoundError:
            log.warning("blob %s was already gone", blob.key)

    def restore(self, key: str, size: int) -> Blob:
        return FileBlob(key, size, self.path_of(key))

    def clear(self) -> None:
        with self._lock:
            shutil.rmtree(self.blob_dir, ignore_errors=True)
            self.blob_dir.mkdir()


def _overwrite(path: Path, size: int) -> None:
    zeros = bytes(min(size, CHUNK))
    with path.open("r+b", buffering=0) as stream:
        remaining = size
        while remaining > 0:
            remaining -= stream.write(zeros[: min(remaining, len(zeros))])
        os.fsync(stream.fileno())


def digest_of(blob: Blob, scheme: str) -> tuple[str, str]:
    """Hash an existing blob: its MD5 hex and its ``scheme`` hash in upper-case hex.

    :param blob: the bytes to hash
    :param scheme: a namespace hash scheme such as ``SHA-256``
    """
    digest = Digest(scheme)
    for chunk in blob.chunks():
        digest.update(chunk)
    return digest.finish()
