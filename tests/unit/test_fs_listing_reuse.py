"""Listings that follow this mount's own changes, and small directories listed again instead of
one HEAD per name: docs/SEMANTICS.md §5 and §8.1, against the memory backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcpfs.fs.backend import DirInfo, ObjectInfo
from hcpfs.fs.cache import ABSENT, GROWTH_ALLOWANCE, MetadataCache
from hcpfs.fs.core import RELIST_MOST, Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(clock: Clock, listing_ttl: float = 1.0) -> MetadataCache:
    return MetadataCache(
        attr_ttl=1.0,
        negative_ttl=1.0,
        listing_ttl=listing_ttl,
        max_entries=10_000,
        max_listing_entries=10_000,
        timer=clock,
    )


# -- §5: the cache ----------------------------------------------------------------------------


def test_a_cached_listing_follows_puts_and_deletes_of_this_mount() -> None:
    clock = Clock()
    metadata = cache(clock)
    metadata.put_listing("/d", [ObjectInfo("/d/a", 1)])
    metadata.put(ObjectInfo("/d/b", 2))
    metadata.put_absent("/d/a")
    assert metadata.listing("/d") == (ObjectInfo("/d/b", 2),)
    assert metadata.lookup("/d/a") is ABSENT
    metadata.forget("/d/c")  # a file being created: the listing stays
    assert metadata.lookup("/d/c") is ABSENT
    clock.now += 1.1  # changes by this mount do not extend the listing's TTL
    assert metadata.listing("/d") is None


def test_invalidating_a_listed_entry_drops_the_listing() -> None:
    metadata = cache(Clock())
    metadata.put_listing("/d", [ObjectInfo("/d/a", 1)])
    metadata.invalidate("/d/a")
    assert metadata.listing("/d") is None


def test_a_listing_that_grew_well_past_its_count_is_dropped() -> None:
    metadata = cache(Clock())
    metadata.put_listing("/d", [])
    for number in range(2 + GROWTH_ALLOWANCE):
        metadata.put(ObjectInfo(f"/d/f{number}", 1))
    assert metadata.listing("/d") is not None
    metadata.put(ObjectInfo("/d/one-more", 1))
    assert metadata.listing("/d") is None
    assert metadata.lookup("/d/one-more") == ObjectInfo("/d/one-more", 1)


def test_listed_recently_knows_when_and_how_big() -> None:
    clock = Clock()
    metadata = cache(clock)
    metadata.put_listing("/small", [DirInfo("/small/x")])
    metadata.put_listing("/big", [ObjectInfo(f"/big/{n}", 1) for n in range(11)])
    assert metadata.listed_recently("/small", 10.0, 10)
    assert not metadata.listed_recently("/big", 10.0, 10)
    assert not metadata.listed_recently("/never", 10.0, 10)
    clock.now += 10.0
    assert not metadata.listed_recently("/small", 10.0, 10)
    assert not cache(clock, listing_ttl=0).listed_recently("/small", 10.0, 10)


# -- §8.1: requests the core sends ------------------------------------------------------------


@pytest.fixture
def timer() -> Clock:
    return Clock()


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(clock=lambda: NOW)


@pytest.fixture
def fs(backend: MemoryBackend, timer: Clock, tmp_path: Path) -> Iterator[Filesystem]:
    options = Options(staging_dir=tmp_path / "staging")
    filesystem = Filesystem(backend, options, clock=lambda: NOW, timer=timer)
    yield filesystem
    filesystem.close()


def create(fs: Filesystem, path: str, data: bytes = b"x") -> None:
    opened = fs.create(path, 0o644, os.O_WRONLY)
    fs.write(opened.fh, 0, data)
    fs.flush(opened.fh)
    fs.release(opened.fh)


def lookup(fs: Filesystem, path: str) -> bool:
    try:
        fs.getattr(path)
    except FsError:
        return False
    return True


def test_files_created_in_a_new_directory_need_no_head(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    fs.mkdir("/new", 0o755)
    for number in range(50):
        assert not lookup(fs, f"/new/f{number}")
        create(fs, f"/new/f{number}")
    assert backend.requests["stat"] == 1  # the HEAD of /new before mkdir
    assert backend.requests["listdir"] == 0
    assert [name for name, _ in fs.readdir("/new")][2:] == sorted(f"f{n}" for n in range(50))
    assert backend.requests["listdir"] == 0  # the listing followed the stores


def test_an_expired_small_listing_is_fetched_again_instead_of_heads(
    fs: Filesystem, backend: MemoryBackend, timer: Clock
) -> None:
    for number in range(5):
        backend.put_object(f"/d/f{number}", b"data")
    fs.readdir("/d")
    timer.now += 1.5  # the listing and the attributes expired
    backend.put_object("/d/late", b"from another client")
    for name in ("f0", "f1", "late", "missing"):
        lookup(fs, f"/d/{name}")
    assert (backend.requests["listdir"], backend.requests["stat"]) == (2, 1)  # /d itself
    assert lookup(fs, "/d/late")
    timer.now += 20  # too long ago: a single HEAD again
    lookup(fs, "/d/f1")
    assert (backend.requests["listdir"], backend.requests["stat"]) == (2, 2)


def test_a_large_directory_is_not_listed_again_for_one_name(
    fs: Filesystem, backend: MemoryBackend, timer: Clock
) -> None:
    for number in range(RELIST_MOST + 1):
        backend.put_object(f"/big/f{number}", b"")
    fs.readdir("/big")
    timer.now += 1.5
    assert lookup(fs, "/big/f7")
    assert backend.requests["listdir"] == 1
