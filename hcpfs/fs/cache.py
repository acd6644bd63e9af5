"""Caches of what HCP said about paths, all bounded in entries (docs/SEMANTICS.md §5).

Three time-limited caches answer lookups without a request: attributes (from HEAD and from
listing entries), negative lookups, and whole directory listings. A fourth, without expiry, keeps
the mode, owner and times that chmod, chown and utimens set for the life of the mount.

A cached listing follows what this mount itself stores and deletes in the directory (so that
programs creating many files in it get their lookups answered without a request); its TTL still
counts from the request that fetched it, and bounds how late changes by others are seen.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from cachetools import LRUCache, TTLCache

from hcpfs.fs.backend import Entry


class Absent:
    """The answer "this path does not exist" from a cache."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


def parent_of(path: str) -> str:
    """Return the directory holding ``path`` (the root for the root)."""
    return posixpath.dirname(path) or "/"


@dataclass
class _Listing:
    by_name: dict[str, Entry]
    #: The size it was counted with in the listing cache's bound.
    counted: int

    def grew_too_much(self) -> bool:
        # Entries added by this mount are not counted in the bound; a listing that grew well
        # past its count is dropped (and fetched again when needed), so the bound holds.
        return len(self.by_name) > 2 * self.counted + GROWTH_ALLOWANCE


def _listing_size(listing: _Listing) -> int:
    return listing.counted


GROWTH_ALLOWANCE = 64


class MetadataCache:
    """Attributes, negative lookups and listings, each with its own TTL and entry bound.

    A TTL of 0 turns that cache off. All methods are safe to call from several threads.

    :param max_entries: bound of the attribute and of the negative cache, each
    :param max_listing_entries: bound of the listing cache, in directory entries
    :param timer: the clock, in seconds (monotonic)
    """

    def __init__(
        self,
        *,
        attr_ttl: float,
        negative_ttl: float,
        listing_ttl: float,
        max_entries: int,
        max_listing_entries: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._attrs: TTLCache[str, Entry] | None = _ttl_cache(max_entries, attr_ttl, timer)
        self._absent: TTLCache[str, bool] | None = _ttl_cache(max_entries, negative_ttl, timer)
        self._listings: TTLCache[str, _Listing] | None = None
        if listing_ttl > 0:
            self._listings = TTLCache(
                max_listing_entries, listing_ttl, timer=timer, getsizeof=_listing_size
            )
        self._timer = timer
        # When each directory was last listed, and how many entries it had then.
        self._listed: LRUCache[str, tuple[float, int]] = LRUCache(max_entries)

    def lookup(self, path: str) -> Entry | Absent | None:
        """Return the cached entry, :data:`ABSENT`, or None when the cache does not know.

        :param path: the path to look up
        """
        with self._lock:
            if self._attrs is not None and (entry := self._attrs.get(path)) is not None:
                return entry
            if self._absent is not None and path in self._absent:
                return ABSENT
            if self._listings is None or path == "/":
                return None
            listing = self._listings.get(parent_of(path))
            if listing is None:
                return None
            return listing.by_name.get(posixpath.basename(path), ABSENT)

    def put(self, entry: Entry) -> None:
        """Remember the attributes of one path (and forget that it was absent).

        :param entry: what HEAD or a listing said
        """
        with self._lock:
            self._put_locked(entry)

    def put_absent(self, path: str) -> None:
        """Remember that ``path`` does not exist (also in its directory's cached listing).

        :param path: the path HCP answered 404 for, or that this mount deleted
        """
        with self._lock:
            if self._attrs is not None:
                self._attrs.pop(path, None)
            if self._absent is not None:
                self._absent[path] = True
            listing = self._parent_listing(path)
            if listing is not None:
                listing.by_name.pop(posixpath.basename(path), None)

    def forget(self, path: str) -> None:
        """Forget the attributes of ``path`` and that it was absent; listings stay.

        :param path: a path about to be created on this mount
        """
        with self._lock:
            for cache in (self._attrs, self._absent):
                if cache is not None:
                    cache.pop(path, None)

    def listing(self, path: str) -> tuple[Entry, ...] | None:
        """Return the cached entries of a directory, or None.

        :param path: the directory
        """
        with self._lock:
            if self._listings is None:
                return None
            listing = self._listings.get(path)
            return None if listing is None else tuple(listing.by_name.values())

    def put_listing(self, path: str, entries: Iterable[Entry]) -> None:
        """Remember a directory's entries, and the attributes of each.

        A listing larger than the whole listing cache is not kept; its entries still are.

        :param path: the directory
        :param entries: what the listing returned: the directory's children
        """
        kept = tuple(entries)
        by_name = {entry.name: entry for entry in kept}
        with self._lock:
            self._listed[path] = (self._timer(), len(kept))
            if self._listings is not None:
                # Taken out first: the entries below must not update the old listing.
                self._listings.pop(path, None)
            self._put_children_locked(kept)
            if self._listings is None:
                return
            # An empty directory still takes a slot.
            listing = _Listing(by_name, max(1, len(kept)))
            if _listing_size(listing) <= self._listings.maxsize:
                self._listings[path] = listing

    def listed_recently(self, path: str, within: float, most: int) -> bool:
        """Tell whether ``path`` was listed less than ``within`` seconds ago with at most
        ``most`` entries: then listing it again is cheap, and answers later lookups too.

        :param path: a directory
        :param within: seconds
        :param most: entries
        """
        if self._listings is None:
            return False
        with self._lock:
            record = self._listed.get(path)
        return record is not None and self._timer() - record[0] < within and record[1] <= most

    def invalidate(self, path: str) -> None:
        """Forget ``path``, its own listing and the listing of its directory.

        :param path: a path this mount just changed
        """
        with self._lock:
            for cache in (self._attrs, self._absent, self._listings):
                if cache is not None:
                    cache.pop(path, None)
            if self._listings is not None:
                self._listings.pop(parent_of(path), None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            for cache in (self._attrs, self._absent, self._listings):
                if cache is not None:
                    cache.clear()

    def sizes(self) -> tuple[int, int, int]:
        """Return the number of attribute, negative and listing entries held now."""
        with self._lock:
            attrs, absent, listings = (
                0 if cache is None else int(cache.currsize)
                for cache in (self._attrs, self._absent, self._listings)
            )
        return attrs, absent, listings

    def _put_locked(self, entry: Entry) -> None:
        if self._absent is not None:
            self._absent.pop(entry.path, None)
        if self._attrs is not None:
            self._attrs[entry.path] = entry
        listing = self._parent_listing(entry.path)
        if listing is not None and entry.path != "/":
            listing.by_name[entry.name] = entry
            if listing.grew_too_much():
                assert self._listings is not None
                self._listings.pop(parent_of(entry.path), None)

    def _put_children_locked(self, entries: tuple[Entry, ...]) -> None:
        """Do what :meth:`_put_locked` does for each of the entries of one directory whose
        cached listing was just taken out: one pass over each cache, for large listings."""
        absent = self._absent
        if absent is not None and len(absent) > 0:
            for entry in entries:
                if entry.path in absent:
                    absent.pop(entry.path, None)
        attrs = self._attrs
        if attrs is not None:
            with attrs.timer:  # one clock reading for the whole listing
                for entry in entries:
                    attrs[entry.path] = entry

    def _parent_listing(self, path: str) -> _Listing | None:
        if self._listings is None or path == "/":
            return None
        return self._listings.get(parent_of(path))


def _ttl_cache(size: int, ttl: float, timer: Callable[[], float]) -> TTLCache[str, Any] | None:
    return TTLCache(size, ttl, timer=timer) if ttl > 0 else None


@dataclass(frozen=True)
class LocalAttributes:
    """Mode, owner and times set by chmod, chown, utimens or create; None = not set.

    Times are in nanoseconds since the epoch.
    """

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None


class LocalAttributeStore:
    """What chmod, chown and utimens set, kept in memory for the life of the mount.

    HCP's REST interface cannot store POSIX metadata; remembering it lets ``cp -a`` and
    ``tar -x`` see what they set. The least recently used paths are forgotten first.

    :param max_entries: how many paths to remember
    """

    def __init__(self, max_entries: int) -> None:
        self._lock = threading.Lock()
        self._entries: LRUCache[str, LocalAttributes] = LRUCache(max_entries)

    def get(self, path: str) -> LocalAttributes | None:
        """Return what was set for ``path``, if anything.

        :param path: the path
        """
        with self._lock:
            return self._entries.get(path)

    def update(self, path: str, **changes: int | None) -> None:
        """Set some of the fields of ``path``; fields given as None stay as they are.

        :param path: the path
        :param changes: fields of :class:`LocalAttributes`
        """
        given = {name: value for name, value in changes.items() if value is not None}
        with self._lock:
            current = self._entries.get(path) or LocalAttributes()
            self._entries[path] = replace(current, **given)

    def move(self, old: str, new: str) -> None:
        """Carry what was set for ``old`` (and below it) over to ``new``.

        :param old: the path before a rename
        :param new: the path after it
        """
        with self._lock:
            self._entries.pop(new, None)
            moved = self._entries.pop(old, None)
            if moved is not None:
                self._entries[new] = moved

    def forget(self, path: str) -> None:
        """Forget ``path``.

        :param path: a path that was deleted
        """
        with self._lock:
            self._entries.pop(path, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class SeenVersions:
    """ETag and size of each object when it was last opened, to grant ``keep_cache``.

    :param max_entries: how many paths to remember
    """

    def __init__(self, max_entries: int) -> None:
        self._lock = threading.Lock()
        self._seen: LRUCache[str, tuple[str | None, int]] = LRUCache(max_entries)

    def unchanged(self, path: str, etag: str | None, size: int) -> bool:
        """Record this open and tell whether the object is the one seen at the previous open.

        :param path: the path opened
        :param etag: the object's ETag now
        :param size: the object's size now
        """
        with self._lock:
            previous = self._seen.get(path)
            self._seen[path] = (etag, size)
        return etag is not None and previous == (etag, size)

    def forget(self, path: str) -> None:
        """Forget ``path`` (its content changed on this mount).

        :param path: the path
        """
        with self._lock:
            self._seen.pop(path, None)
