"""Directory streams: entries handed out while the listing still arrives, docs/SEMANTICS.md
§8.2, against the memory backend."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hcpfs.fs.backend import Entry
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.listing import DirectoryStream
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options

WAIT = 10.0


def item(name: str) -> tuple[str, dict[str, int]]:
    return (name, {"st_size": len(name)})


# -- the stream -------------------------------------------------------------------------------


def test_a_reader_waits_for_entries_added_later() -> None:
    stream = DirectoryStream()
    stream.add([item("a")])
    assert stream.take(0) == [item("a")]
    taken: list[list[tuple[str, dict[str, int]]]] = []
    reader = threading.Thread(target=lambda: taken.append(stream.take(1)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # nothing past the first entry yet
    stream.add([item("b"), item("c")])
    reader.join(WAIT)
    assert taken == [[item("b"), item("c")]]
    stream.end()
    assert stream.take(3) == []
    assert stream.complete() == [item("a"), item("b"), item("c")]


def test_take_hands_out_at_most_the_given_number() -> None:
    stream = DirectoryStream()
    stream.add(item(f"n{number}") for number in range(10))
    stream.end()
    assert [name for name, _ in stream.take(2, most=3)] == ["n2", "n3", "n4"]


def test_the_error_that_ended_a_listing_comes_after_its_entries() -> None:
    stream = DirectoryStream()
    stream.add([item("a")])
    stream.end(FsError(errno.EIO, "cut off", "/d"))
    assert stream.take(0) == [item("a")]
    with pytest.raises(FsError) as failed:
        stream.take(1)
    assert failed.value.errno == errno.EIO
    with pytest.raises(FsError):
        stream.complete()


def test_a_stalled_listing_gives_eio() -> None:
    stream = DirectoryStream(stall_seconds=0.05)
    with pytest.raises(FsError) as stalled:
        stream.take(0)
    assert stalled.value.errno == errno.EIO


# -- the filesystem ---------------------------------------------------------------------------


class GatedBackend(MemoryBackend):
    """Lists in two batches and holds the second one back until :attr:`gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail: FsError | None = None

    def listdir(
        self, path: str, progress: Callable[[Sequence[Entry]], None] | None = None
    ) -> list[Entry]:
        entries = super().listdir(path)
        half = len(entries) // 2
        if progress is not None:
            progress(entries[:half])
        assert self.gate.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        if progress is not None:
            progress(entries[half:])
        return entries


@pytest.fixture
def gated(tmp_path: Path) -> GatedBackend:
    backend = GatedBackend()
    backend.mkdir("/d")
    for number in range(6):
        backend.put_object(f"/d/f{number}", b"x" * number)
    return backend


def names(items: Sequence[tuple[str, dict[str, int]]]) -> list[str]:
    return [name for name, _ in items]


def test_entries_of_a_known_directory_arrive_before_its_listing_ends(
    gated: GatedBackend, tmp_path: Path
) -> None:
    fs = Filesystem(gated, Options(staging_dir=tmp_path / "staging"))
    try:
        fs.getattr("/d")  # the kernel looks a directory up before it reads it
        fs.release(fs.create("/d/new", 0o644).fh)  # uploaded: listed by HCP
        pending = fs.create("/d/pending", 0o644)
        stream = fs.list_directory("/d")
        first = stream.take(0)
        while len(first) < 5:
            first += stream.take(len(first))
        assert names(first) == [".", "..", "f0", "f1", "f2"]
        assert first[3][1]["st_size"] == 1
        gated.gate.set()
        rest = stream.complete()[5:]
        assert names(rest) == ["f3", "f4", "f5", "new", "pending"]
        assert fs.readdir("/d") == stream.complete()[:2] + sorted(
            stream.complete()[2:], key=lambda pair: pair[0]
        )
        fs.release(pending.fh)
    finally:
        gated.gate.set()
        fs.close()


def test_a_listing_failing_midway_reaches_the_reader_after_its_first_entries(
    gated: GatedBackend, tmp_path: Path
) -> None:
    fs = Filesystem(gated, Options(staging_dir=tmp_path / "staging"))
    try:
        fs.getattr("/d")
        gated.fail = FsError(errno.EIO, "cut off", "/d")
        stream = fs.list_directory("/d")
        gated.gate.set()
        with pytest.raises(FsError) as failed:
            stream.complete()
        assert failed.value.errno == errno.EIO
        taken = stream.take(0)
        assert names(taken) == [".", "..", "f0", "f1", "f2"]
    finally:
        fs.close()


def test_an_unknown_or_cached_directory_is_listed_at_once(
    gated: GatedBackend, tmp_path: Path
) -> None:
    gated.gate.set()
    fs = Filesystem(gated, Options(staging_dir=tmp_path / "staging"))
    try:
        before = gated.requests["listdir"]
        first = fs.list_directory("/d")  # nothing known: listed before the call returns
        assert gated.requests["listdir"] == before + 1
        again = fs.list_directory("/d")  # the listing is cached
        assert gated.requests["listdir"] == before + 1
        assert (
            names(first.take(0))
            == names(again.take(0))
            == [".", "..", *(f"f{number}" for number in range(6))]
        )
        with pytest.raises(FsError) as refused:
            fs.list_directory("/d/f1")
        assert refused.value.errno == errno.ENOTDIR
    finally:
        fs.close()
