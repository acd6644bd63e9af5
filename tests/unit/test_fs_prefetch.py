"""Small files fetched before they are opened, docs/SEMANTICS.md §8.6, against the memory
backend."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hcpfs.fs import prefetch
from hcpfs.fs.backend import Entry, ObjectInfo
from hcpfs.fs.core import Filesystem
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options
from hcpfs.fs.prefetch import Prefetcher

WAIT = 10.0
FILES = 4


def body(number: int) -> bytes:
    return f"file {number}\n".encode() * (number + 1)


class ReadsBackend(MemoryBackend):
    """Remembers the path of every read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def read(self, path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        self.reads.append(path)
        return super().read(path, offset, length, if_match)


@pytest.fixture
def backend() -> ReadsBackend:
    made = ReadsBackend()
    for number in range(12):
        made.put_object(f"/d/f{number:02}", body(number))
    made.put_object("/d/large", b"L" * (prefetch.MAX_SIZE + 1))
    made.put_object("/d/zz-after-large", b"after")
    made.mkdir("/d/sub")
    return made


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Maker = Callable[..., Prefetcher]


@pytest.fixture
def make(backend: MemoryBackend) -> Iterator[Maker]:
    """Make prefetchers over the listing of ``/d`` as it is now; all are closed at the end."""
    made: list[Prefetcher] = []

    def maker(files: int = FILES, clock: Clock | None = None) -> Prefetcher:
        listing = tuple(backend.listdir("/d"))
        fetcher = Prefetcher(
            backend,
            files,
            lambda directory: listing if directory == "/d" else None,
            clock or time.monotonic,
        )
        made.append(fetcher)
        return fetcher

    yield maker
    for fetcher in made:
        fetcher.close()


def entry_of(backend: MemoryBackend, path: str) -> ObjectInfo:
    entry = backend.stat(path)
    assert isinstance(entry, ObjectInfo)
    return entry


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def fetcher(make: Maker) -> Prefetcher:
    return make()


def test_two_opens_in_order_fetch_the_next_small_files(
    backend: MemoryBackend, fetcher: Prefetcher
) -> None:
    fetcher.opened("/d/f00")
    assert backend.requests["read"] == 0  # one open is no order yet
    fetcher.opened("/d/f01")
    wait_for(lambda: fetcher.pending() == 0)
    assert backend.requests["read"] == FILES
    for number in range(2, 2 + FILES):
        path = f"/d/f{number:02}"
        assert fetcher.take(path, entry_of(backend, path).etag) == body(number)
        assert fetcher.take(path, entry_of(backend, path).etag) is None  # handed out once
    assert fetcher.take("/d/f06", entry_of(backend, "/d/f06").etag) is None  # not that far


def test_the_fetching_follows_the_program(backend: MemoryBackend, fetcher: Prefetcher) -> None:
    for number in range(12):
        fetcher.opened(f"/d/f{number:02}")
    wait_for(lambda: fetcher.pending() == 0)
    assert backend.requests["read"] == 11  # f02 to f11 and zz-after-large, each once


def test_only_small_objects_of_the_version_listed_are_used(
    backend: MemoryBackend, make: Maker
) -> None:
    fetcher = make(files=20)
    fetcher.opened("/d/f10")
    fetcher.opened("/d/f11")
    wait_for(lambda: fetcher.pending() == 0)
    assert backend.requests["read"] == 1  # zz-after-large; not large, not sub
    after = entry_of(backend, "/d/zz-after-large")
    assert fetcher.take("/d/zz-after-large", "another-etag") is None
    assert fetcher.take("/d/zz-after-large", after.etag) is None  # dropped by the mismatch
    assert fetcher.take("/d/large", entry_of(backend, "/d/large").etag) is None


def test_a_changed_object_is_not_fetched_as_listed(backend: MemoryBackend, make: Maker) -> None:
    fetcher = make()
    backend.put_object("/d/f02", b"changed since the listing")
    fetcher.opened("/d/f00")
    fetcher.opened("/d/f01")
    wait_for(lambda: fetcher.pending() == 0)
    assert backend.requests["read"] == FILES
    assert fetcher.take("/d/f02", entry_of(backend, "/d/f02").etag) is None


@pytest.mark.parametrize("opens", [["/d/f00", "/d/f05", "/d/f02"], ["/d/f03"], ["/other/x"]])
def test_no_order_no_fetching(
    backend: MemoryBackend, fetcher: Prefetcher, opens: list[str]
) -> None:
    for path in opens:
        fetcher.opened(path)
    assert fetcher.pending() == 0  # nothing was queued: opened queues at once
    assert backend.requests["read"] == 0


def test_off_with_zero_files(backend: MemoryBackend, make: Maker) -> None:
    fetcher = make(files=0)
    for number in range(5):
        fetcher.opened(f"/d/f{number:02}")
    assert fetcher.pending() == 0  # nothing was queued: opened queues at once
    assert backend.requests["read"] == 0


def test_held_data_is_bounded_and_ages(
    backend: MemoryBackend, make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefetch, "THREADS", 1)  # fetched, so held, in listing order
    monkeypatch.setattr(prefetch, "MAX_BYTES", len(body(7)) + len(body(8)))
    clock = Clock()
    fetcher = make(files=FILES, clock=clock)
    fetcher.opened("/d/f03")
    fetcher.opened("/d/f04")  # fetches f05 to f08; only the last two fit
    wait_for(lambda: fetcher.pending() == 0)
    assert fetcher.take("/d/f08", entry_of(backend, "/d/f08").etag) == body(8)
    for dropped in ("/d/f05", "/d/f06"):
        assert fetcher.take(dropped, entry_of(backend, dropped).etag) is None
    clock.now += prefetch.KEEP_SECONDS + 1
    assert fetcher.take("/d/f07", entry_of(backend, "/d/f07").etag) is None


def test_what_this_mount_changes_is_forgotten(backend: MemoryBackend, make: Maker) -> None:
    fetcher = make()
    fetcher.opened("/d/f00")
    fetcher.opened("/d/f01")
    wait_for(lambda: fetcher.pending() == 0)
    fetcher.forget("/d/f02")
    assert fetcher.take("/d/f02", entry_of(backend, "/d/f02").etag) is None
    assert fetcher.take("/d/f03", entry_of(backend, "/d/f03").etag) == body(3)


def test_a_filesystem_reads_files_fetched_ahead_without_a_request(
    backend: ReadsBackend, tmp_path: Path
) -> None:
    """§8.6: cp -r of a directory: once in order, the next files are read from what came."""
    fs = Filesystem(backend, Options(staging_dir=tmp_path / "staging", prefetch_files=FILES))
    try:
        names = [name for name, _ in fs.readdir("/d")[2:]]
        assert names[:3] == ["f00", "f01", "f02"]

        def read(name: str) -> bytes:
            opened = fs.open(f"/d/{name}", os.O_RDONLY)
            try:
                return bytes(fs.read(opened.fh, 0, 1 << 20))
            finally:
                fs.release(opened.fh)

        assert read("f00") == body(0)
        assert read("f01") == body(1)
        wait_for(lambda: fs._prefetch.pending() == 0)
        assert [read(f"f{number:02}") for number in range(2, 6)] == [
            body(number) for number in range(2, 6)
        ]
        # Each open moved the fetching on; no file was read twice.
        wait_for(lambda: fs._prefetch.pending() == 0)
        assert sorted(backend.reads) == [f"/d/f{number:02}" for number in range(10)]
    finally:
        fs.close()


def test_the_listing_comes_from_the_cache() -> None:
    """Without a cached listing of the directory there is no order to follow."""
    backend = MemoryBackend()
    backend.put_object("/d/a", b"a")
    backend.put_object("/d/b", b"b")
    backend.put_object("/d/c", b"c")
    listings: dict[str, tuple[Entry, ...]] = {}
    fetcher = Prefetcher(backend, FILES, listings.get)
    try:
        fetcher.opened("/d/a")
        fetcher.opened("/d/b")
        assert fetcher.pending() == 0  # nothing was queued: opened queues at once
        assert backend.requests["read"] == 0
    finally:
        fetcher.close()


def test_a_failing_fetch_leaves_the_open_to_read_from_hcp(
    backend: ReadsBackend, fetcher: Prefetcher, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        raise RuntimeError("a bug")

    backend.read = broken  # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="hcpfs.fs.prefetch"):
        fetcher.opened("/d/f00")
        fetcher.opened("/d/f01")
        wait_for(lambda: fetcher.pending() == 0)
    assert fetcher.take("/d/f02", entry_of(backend, "/d/f02").etag) is None
    assert "fetching /d/f02 ahead failed unexpectedly" in caplog.text


def test_directories_too_large_to_hold_are_not_followed(
    backend: MemoryBackend, make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefetch, "ORDER_ENTRIES", 10)  # /d has 15 entries
    fetcher = make()
    for number in range(4):
        fetcher.opened(f"/d/f{number:02}")
    assert fetcher.pending() == 0  # nothing was queued: opened queues at once
    assert backend.requests["read"] == 0
