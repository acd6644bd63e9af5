"""Small files fetched before they are opened (docs/SEMANTICS.md §8.6).

Programs that copy or archive a tree (``cp -r``, ``tar``, ``rsync``) open a directory's files
one after the other, in the order of its listing, and wait for each; on HCP every small file
then costs a whole request's latency. Once a program has opened two files of a directory in
listing order, the next few small ones are fetched in parallel, each with ``If-Match`` on the
ETag the listing gave, and their data waits for their open. An open uses that data only when
the object still has the same ETag, so it is the same version a request would have read.
"""

from __future__ import annotations

import logging
import posixpath
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hcpfs.fs.backend import Backend, BackendConnectionError, BackendError, Entry, ObjectInfo

log = logging.getLogger(__name__)

MAX_SIZE = 1024 * 1024
"""Largest object fetched ahead, in bytes."""
MAX_BYTES = 64 * 1024 * 1024
"""Data held for opens to come, in bytes at most; the oldest goes first."""
KEEP_SECONDS = 30.0
"""Data not opened within this time is dropped."""
THREADS = 4
"""Requests fetching ahead at once."""
DIRECTORIES = 16
"""Directories whose order of opens is followed at once..."""
ORDER_ENTRIES = 200_000
"""... holding their listings, of at most this many entries together."""
_STEP = 2
"""An open at most this many entries after the previous one continues the order."""


@dataclass
class _Order:
    """The opens in one directory: its listing as seen first, and where the program is."""

    listing: Sequence[Entry]
    positions: dict[str, int]
    last: int = -1
    streak: int = 0
    #: Index of the last entry handed to the fetch threads.
    ahead: int = -1


@dataclass(frozen=True)
class _Held:
    etag: str
    data: bytes
    fetched: float


@dataclass
class _State:
    orders: OrderedDict[str, _Order] = field(default_factory=OrderedDict)
    held: OrderedDict[str, _Held] = field(default_factory=OrderedDict)
    held_bytes: int = 0
    fetching: set[str] = field(default_factory=set)

    def drop(self, path: str | None = None) -> _Held | None:
        """Stop holding the data of ``path``, or the oldest when None; return it."""
        if path is not None:
            held = self.held.pop(path, None)
        elif self.held:
            held = self.held.popitem(last=False)[1]
        else:
            held = None
        if held is not None:
            self.held_bytes -= len(held.data)
        return held


class Prefetcher:
    """Fetches small files ahead of a program that opens a directory's files in order.

    :param backend: where to read from
    :param files: how many files to fetch ahead (0 turns fetching ahead off)
    :param listing_of: the cached listing of a directory, if there is one
    :param timer: monotonic seconds
    """

    def __init__(
        self,
        backend: Backend,
        files: int,
        listing_of: Callable[[str], Sequence[Entry] | None],
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._files = files
        self._listing_of = listing_of
        self._timer = timer
        self._lock = threading.Lock()
        self._state = _State()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="hcpfs-prefetch")

    def take(self, path: str, etag: str | None) -> bytes | None:
        """Return the data fetched ahead for ``path`` if it is of the version ``etag``.

        The data is handed out once; a later open reads from HCP again.
        """
        with self._lock:
            held = self._state.drop(path)
        if held is None or held.etag != etag or self._expired(held):
            return None
        return held.data

    def opened(self, path: str) -> None:
        """Note that a program opened ``path`` to read it; fetch ahead when it keeps order."""
        if self._files <= 0:
            return
        directory, name = posixpath.split(path)
        with self._lock:
            order = self._order(directory)
            index = order.positions.get(name) if order is not None else None
            if order is None or index is None:
                return
            following = 0 < index - order.last <= _STEP
            order.streak = order.streak + 1 if following else 1
            order.last = index
            wanted = self._wanted(order, index) if order.streak >= 2 else []
            self._state.fetching.update(entry.path for entry in wanted)
        for entry in wanted:
            self._pool.submit(self._fetch, entry)

    def pending(self) -> int:
        """Return how many fetches are queued or running."""
        with self._lock:
            return len(self._state.fetching)

    def forget(self, path: str) -> None:
        """Drop what was fetched for ``path`` (this mount changed or removed it)."""
        with self._lock:
            self._state.drop(path)

    def close(self) -> None:
        """Stop fetching and drop what is held."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._state = _State()

    def _order(self, directory: str) -> _Order | None:
        """The order of opens in ``directory``, begun from its cached listing if need be."""
        orders = self._state.orders
        order = orders.get(directory)
        if order is not None:
            orders.move_to_end(directory)
            return order
        listing = self._listing_of(directory)
        if not listing or len(listing) > ORDER_ENTRIES:
            return None
        order = _Order(listing, {entry.name: n for n, entry in enumerate(listing)})
        orders[directory] = order
        while len(orders) > DIRECTORIES or _entries(orders) > ORDER_ENTRIES:
            orders.popitem(last=False)
        return order

    def _wanted(self, order: _Order, index: int) -> list[ObjectInfo]:
        """The small objects up to :attr:`_files` entries after ``index`` not asked for yet."""
        start = max(index, order.ahead) + 1
        end = min(index + self._files, len(order.listing) - 1)
        wanted = []
        for entry in order.listing[start : end + 1]:
            if (
                isinstance(entry, ObjectInfo)
                and entry.etag is not None
                and 0 < entry.size <= MAX_SIZE
                and entry.path not in self._state.held
                and entry.path not in self._state.fetching
            ):
                wanted.append(entry)
        order.ahead = max(order.ahead, end)
        return wanted

    def _fetch(self, entry: ObjectInfo) -> None:
        data = None
        try:
            data = self._backend.read(entry.path, 0, entry.size, entry.etag)
        except (BackendError, BackendConnectionError) as error:
            log.debug("fetching %s ahead failed: %s", entry.path, error)
        except Exception as error:  # a bug: the open reads from HCP as without fetching ahead
            log.error("fetching %s ahead failed unexpectedly", entry.path, exc_info=error)
        finally:
            with self._lock:
                self._state.fetching.discard(entry.path)
                if data is not None and len(data) == entry.size and entry.etag is not None:
                    self._hold(entry.path, _Held(entry.etag, data, self._timer()))

    def _hold(self, path: str, held: _Held) -> None:
        state = self._state
        state.drop(path)
        state.held[path] = held
        state.held_bytes += len(held.data)
        while state.held and (
            state.held_bytes > MAX_BYTES or self._expired(next(iter(state.held.values())))
        ):
            state.drop()

    def _expired(self, held: _Held) -> bool:
        return self._timer() - held.fetched > KEEP_SECONDS


def _entries(orders: OrderedDict[str, _Order]) -> int:
    return sum(len(order.listing) for order in orders.values())
