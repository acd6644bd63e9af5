"""A directory's entries, handed out while its listing still arrives (docs/SEMANTICS.md §8.2).

A large listing takes HCP a while to send. Instead of waiting for its end, the kernel gets the
entries parsed so far, comes back for more while the rest arrives, and works on what it has in
the meantime; only the last piece is handled after the listing ended.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterable

from hcpfs.fs.errors import FsError

Item = tuple[str, dict[str, int]]
"""A name with its attributes (empty when unknown, as for ``..``)."""

TAKE_MOST = 4096
"""Entries handed out at most by one :meth:`DirectoryStream.take`."""
STALL_SECONDS = 300.0
"""A reader waiting this long for the next entries gets ``EIO``."""


class DirectoryStream:
    """The entries of one directory in the order they were added, filled by a listing thread.

    :param stall_seconds: how long :meth:`take` waits for more entries at most
    """

    def __init__(self, stall_seconds: float = STALL_SECONDS) -> None:
        self._items: list[Item] = []
        self._ended = False
        self._error: FsError | None = None
        self._changed = threading.Condition()
        self._stall_seconds = stall_seconds

    def __repr__(self) -> str:
        return f"DirectoryStream({len(self._items)} entries, ended={self._ended})"

    def add(self, items: Iterable[Item]) -> None:
        """Append entries and wake the readers waiting for them."""
        with self._changed:
            self._items.extend(items)
            self._changed.notify_all()

    def end(self, error: FsError | None = None) -> None:
        """Mark the end of the entries, or the error that ended the listing early."""
        with self._changed:
            self._ended = True
            self._error = error
            self._changed.notify_all()

    def take(self, offset: int, most: int = TAKE_MOST) -> list[Item]:
        """Return the entries from ``offset`` on that are there, waiting for at least one.

        :param offset: how many entries the reader has had
        :param most: how many entries to return at most
        :return: the entries; empty once the reader has had them all
        :raises FsError: the error that ended the listing, once the entries before it are had;
            ``EIO`` when no entry came for :data:`STALL_SECONDS`
        """
        deadline = time.monotonic() + self._stall_seconds
        with self._changed:
            while len(self._items) <= offset and not self._ended:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FsError(errno.EIO, "the listing stalled")
                self._changed.wait(remaining)
            if len(self._items) > offset:
                return self._items[offset : offset + most]
            if self._error is not None:
                raise self._error
            return []

    def complete(self) -> list[Item]:
        """Wait for the end and return every entry.

        :raises FsError: as :meth:`take` does
        """
        items: list[Item] = []
        while batch := self.take(len(items)):
            items.extend(batch)
        return items
