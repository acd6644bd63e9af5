"""Local staging of written data until HCP has stored it (docs/SEMANTICS.md §6).

Each file open for writing has one staging file ``staged-*.data`` and a companion
``staged-*.json`` naming the path it belongs to and its state. Staging files are removed only
after a successful store or when their file was deleted; the ones found at start are reported
and kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_PREFIX = "staged-"


@dataclass(frozen=True)
class Leftover:
    """A staging file found when the staging area was opened.

    :param data: the local file holding the data
    :param path: the filesystem path it was written for ("" if unknown)
    :param state: ``writing``, ``failed`` or ``stored`` at the time it was left
    """

    data: Path
    path: str
    state: str
    size: int
    error: str = ""


class StagingArea:
    """The staging directory of one mount.

    :param directory: where staging files go; created (mode 0700) if missing
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def leftovers(self) -> list[Leftover]:
        """Return the staging files present now, oldest first."""
        found = sorted(self.directory.glob(f"{_PREFIX}*.data"), key=_mtime)
        return [_read_leftover(data) for data in found]

    def report_leftovers(self) -> list[Leftover]:
        """Log one WARNING per staging file left by an earlier run, and keep them all."""
        leftovers = self.leftovers()
        for leftover in leftovers:
            log.warning(
                "staging file %s (%d bytes, state %s) holds data written to %s that was never "
                "confirmed stored on HCP; it is kept for you to examine%s",
                leftover.data,
                leftover.size,
                leftover.state,
                leftover.path or "an unknown path",
                f" (last error: {leftover.error})" if leftover.error else "",
            )
        return leftovers

    def create(self, path: str) -> StagedFile:
        """Create an empty staging file for ``path``.

        :param path: the filesystem path the data is written to
        """
        fd, name = tempfile.mkstemp(prefix=_PREFIX, suffix=".data", dir=self.directory)
        staged = StagedFile(fd, Path(name), path)
        staged.mark("writing")
        return staged


class StagedFile:
    """The local copy of one file being written, with its SHA-256 kept up to date.

    The hash follows writes that extend the data in order; any other write makes it be
    computed again from the file when :meth:`sha256` is asked. Not thread-safe: the caller
    serialises access.

    :param fd: an open read-write descriptor of the data file
    :param data: the data file
    :param path: the filesystem path the data belongs to
    """

    def __init__(self, fd: int, data: Path, path: str) -> None:
        self._fd = fd
        self.data = data
        self.meta = data.with_suffix(".json")
        self._path = path
        self.size = 0
        self._hasher = hashlib.sha256()
        self._hashed = 0
        self._hash_valid = True
        self._state = "writing"
        self._error = ""

    @property
    def path(self) -> str:
        """The filesystem path the data belongs to."""
        return self._path

    @path.setter
    def path(self, path: str) -> None:
        self._path = path
        self.mark(self._state, self._error)

    @property
    def sequential(self) -> bool:
        """Whether the hash could follow every write so far."""
        return self._hash_valid and self._hashed == self.size

    def write(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``; return the number of bytes written.

        :param offset: where, in bytes from the start
        :param data: what
        """
        written = os.pwrite(self._fd, data, offset)
        if self._hash_valid and offset == self._hashed and written == len(data):
            self._hasher.update(data)
            self._hashed += written
        else:
            self._hash_valid = False
        self.size = max(self.size, offset + written)
        return written

    def append_chunks(self, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` one after another at the end of the data.

        :param chunks: the data, e.g. the current content of an object being changed
        """
        for chunk in chunks:
            self.write(self.size, chunk)

    def read(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes from ``offset``.

        :param offset: where, in bytes from the start
        :param length: how many bytes at most
        """
        return os.pread(self._fd, length, offset)

    def truncate(self, length: int) -> None:
        """Cut or extend (with zeros) the data to ``length`` bytes.

        :param length: the new size
        """
        os.ftruncate(self._fd, length)
        if length != self._hashed:
            self._hash_valid = False
        self.size = length

    def sha256(self) -> str:
        """Return the SHA-256 of the data as lowercase hex, computing it again if needed."""
        if not self.sequential:
            self._rehash()
        return self._hasher.copy().hexdigest()

    @contextlib.contextmanager
    def reader(self) -> Iterator[BinaryIO]:
        """Open the data for reading from the start, e.g. for an upload."""
        with self.data.open("rb") as file:
            yield file

    def mark(self, state: str, error: str = "") -> None:
        """Record the state in the companion file, for whoever finds it after a crash.

        :param state: ``writing``, ``failed`` or ``stored``
        :param error: the last error, for ``failed``
        """
        self._state, self._error = state, error
        record = {"path": self._path, "state": state, "error": error, "time": time.time()}
        temporary = self.meta.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record), encoding="utf-8")
        temporary.replace(self.meta)

    def close(self) -> None:
        """Close the descriptor and keep the files (after a failure)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def discard(self) -> None:
        """Close and delete the staging file and its companion."""
        self.close()
        for file in (self.data, self.meta):
            file.unlink(missing_ok=True)

    def _rehash(self) -> None:
        hasher = hashlib.sha256()
        offset = 0
        while offset < self.size:
            chunk = os.pread(self._fd, min(_CHUNK, self.size - offset), offset)
            if not chunk:
                break
            hasher.update(chunk)
            offset += len(chunk)
        self._hasher, self._hashed, self._hash_valid = hasher, offset, True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _read_leftover(data: Path) -> Leftover:
    size = data.stat().st_size if data.exists() else 0
    try:
        record = json.loads(data.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Leftover(data, "", "unknown", size)
    return Leftover(
        data,
        str(record.get("path", "")),
        str(record.get("state", "unknown")),
        size,
        str(record.get("error", "")),
    )
