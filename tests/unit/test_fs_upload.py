"""Streamed uploads of new files, and the check of HCP's hash of a stored object:
docs/SEMANTICS.md §8.8, against the memory backend."""

import errno
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from hcpfs.fs import core, upload
from hcpfs.fs.backend import IntegrityError, ObjectInfo, ObjectSettings, check_hash
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options
from hcpfs.fs.staging import StagingArea

NOW = 1_700_000_000.0
PIECE = 16 * 1024
THRESHOLD = 4 * PIECE


class Streaming(MemoryBackend):
    """The memory backend, counting the streamed stores and the bytes they were given."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: NOW)
        self.streamed: list[str] = []
        self.consumed = 0
        self.started = threading.Event()

    def store_stream(
        self, path: str, chunks: Iterable[bytes], settings: ObjectSettings | None = None
    ) -> ObjectInfo:
        self.streamed.append(path)
        self.started.set()
        return super().store_stream(path, self._count(chunks), settings)

    def _count(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.consumed += len(chunk)
            yield chunk


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "STREAM_AFTER", THRESHOLD)


@pytest.fixture
def backend() -> Streaming:
    return Streaming()


@pytest.fixture
def fs(backend: Streaming, tmp_path: Path) -> Iterator[Filesystem]:
    options = Options(staging_dir=tmp_path / "staging")
    filesystem = Filesystem(backend, options, clock=lambda: NOW)
    try:
        yield filesystem
    finally:
        filesystem.close()


def pieces(count: int) -> list[bytes]:
    return [os.urandom(PIECE) for _ in range(count)]


def write_in_order(fs: Filesystem, fh: int, data: list[bytes], start: int = 0) -> int:
    offset = start
    for piece in data:
        fs.write(fh, offset, piece)
        offset += len(piece)
    return offset


def streaming(fs: Filesystem, backend: Streaming) -> tuple[int, list[bytes]]:
    """Create /big and write to it until its upload streams; return the handle and the data."""
    data = pieces(6)
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, data)
    assert backend.started.wait(5), "no upload started during the writes"
    return fh, data


def close(fs: Filesystem, fh: int) -> None:
    try:
        fs.flush(fh)
    finally:
        fs.release(fh)


def staging_files(tmp_path: Path) -> list[Path]:
    """The staging files that hold data (not the emptied ones kept for reuse)."""
    return sorted(leftover.data for leftover in StagingArea(tmp_path / "staging").leftovers())


def test_a_large_new_file_is_sent_while_it_is_written(
    fs: Filesystem, backend: Streaming, tmp_path: Path
) -> None:
    data = pieces(12)
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, data)

    assert backend.started.wait(5), "no upload started during the writes"
    assert backend.requests["store"] == 0, "nothing is stored before the close"
    close(fs, fh)

    assert backend.streamed == ["/big"]
    assert backend.requests["store"] == 1
    assert backend.consumed == 12 * PIECE
    assert backend.data_of("/big") == b"".join(data)
    assert staging_files(tmp_path) == []


def test_a_small_file_is_uploaded_at_close_in_one_request(
    fs: Filesystem, backend: Streaming
) -> None:
    fh = fs.create("/small", 0o644).fh
    write_in_order(fs, fh, pieces(2))
    close(fs, fh)

    assert backend.streamed == []
    assert backend.requests["store"] == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda fs, fh: fs.write(fh, 0, b"X" * 10), id="write-inside"),
        pytest.param(lambda fs, fh: fs.write(fh, 100 * PIECE, b"Y"), id="write-past-the-end"),
        pytest.param(lambda fs, fh: fs.truncate("/big", 3 * PIECE, fh), id="truncate"),
    ],
)
def test_any_other_change_abandons_the_stream_and_the_staged_copy_is_sent(
    fs: Filesystem, backend: Streaming, change: Callable[[Filesystem, int], object]
) -> None:
    fh, _ = streaming(fs, backend)

    change(fs, fh)
    write_in_order(fs, fh, pieces(2), start=fs.getattr("/big", fh)["st_size"])
    expected = b"".join(fs.read(fh, offset, PIECE) for offset in range(0, 200 * PIECE, PIECE))
    close(fs, fh)

    assert backend.requests["store"] == 1, "the abandoned stream stored nothing"
    assert backend.data_of("/big") == expected


def test_a_truncate_to_the_current_size_keeps_the_stream(
    fs: Filesystem, backend: Streaming
) -> None:
    data = pieces(6)
    fh = fs.create("/big", 0o644).fh
    size = write_in_order(fs, fh, data)
    fs.truncate("/big", size, fh)
    close(fs, fh)

    assert backend.streamed == ["/big"]
    assert backend.requests["store"] == 1
    assert backend.data_of("/big") == b"".join(data)


def test_unlink_while_streaming_stores_nothing(
    fs: Filesystem, backend: Streaming, tmp_path: Path
) -> None:
    fh, _ = streaming(fs, backend)

    fs.unlink("/big")
    close(fs, fh)

    assert backend.requests["store"] == 0
    assert backend.data_of("/big") is None
    assert staging_files(tmp_path) == []


def test_rename_while_streaming_stores_under_the_new_name_only(
    fs: Filesystem, backend: Streaming
) -> None:
    fh, data = streaming(fs, backend)

    fs.rename("/big", "/moved")
    close(fs, fh)

    assert backend.data_of("/big") is None
    assert backend.data_of("/moved") == b"".join(data)
    assert backend.requests["store"] == 1


def test_a_setting_given_while_streaming_is_not_lost(fs: Filesystem, backend: Streaming) -> None:
    fh, _ = streaming(fs, backend)

    fs.setxattr("/big", "user.hcp.shred", b"true")
    close(fs, fh)

    info = backend.stat("/big")
    assert isinstance(info, ObjectInfo) and info.shred
    assert backend.requests["store"] == 1


def test_a_lost_connection_falls_back_to_the_staged_copy(
    fs: Filesystem, backend: Streaming
) -> None:
    data = pieces(6)
    backend.disconnect_next("store")
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, data)
    close(fs, fh)

    assert backend.streamed == ["/big"]
    assert backend.requests["store"] == 2, "the streamed store, then the staged copy"
    assert backend.data_of("/big") == b"".join(data)


def test_a_refusal_fails_the_close_and_keeps_the_data(
    fs: Filesystem, backend: Streaming, tmp_path: Path
) -> None:
    data = pieces(6)
    backend.fail_next("store", 413, "quota exceeded")
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, data)

    with pytest.raises(FsError) as refused:
        fs.flush(fh)
    fs.release(fh)

    assert refused.value.errno == errno.ENOSPC
    assert backend.data_of("/big") is None
    kept = staging_files(tmp_path)
    assert [p.read_bytes() for p in kept] == [b"".join(data)]


def test_other_data_stored_by_hcp_is_an_error_and_is_removed(
    fs: Filesystem, backend: Streaming
) -> None:
    backend.corrupt_next_store()
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, pieces(6))

    with pytest.raises(FsError) as failed:
        fs.flush(fh)
    fs.release(fh)

    assert failed.value.errno == errno.EIO
    assert backend.data_of("/big") is None


def test_the_writer_waits_while_the_upload_is_behind(
    fs: Filesystem, backend: Streaming, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = backend.store_stream

    def slow(
        path: str, chunks: Iterable[bytes], settings: ObjectSettings | None = None
    ) -> ObjectInfo:
        release.wait(10)
        return original(path, chunks, settings)

    monkeypatch.setattr(backend, "store_stream", slow)
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, pieces(4))
    writer = threading.Thread(
        target=write_in_order,
        args=(fs, fh, pieces(upload.QUEUED_WRITES + 2), 4 * PIECE),
        daemon=True,
    )
    writer.start()
    writer.join(0.5)

    assert writer.is_alive(), "the queue is bounded: the writer waits for the upload"
    release.set()
    writer.join(10)
    assert not writer.is_alive()
    close(fs, fh)
    info = backend.stat("/big")
    assert isinstance(info, ObjectInfo) and info.size == (upload.QUEUED_WRITES + 6) * PIECE


def test_the_stored_hash_is_that_of_the_data(fs: Filesystem, backend: Streaming) -> None:
    data = pieces(9)
    fh = fs.create("/big", 0o644).fh
    write_in_order(fs, fh, data)
    close(fs, fh)

    info = backend.stat("/big")
    assert isinstance(info, ObjectInfo)
    assert info.hash == "SHA-256 " + hashlib.sha256(b"".join(data)).hexdigest().upper()


def test_the_name_still_held_by_a_cut_off_upload_is_waited_for(
    fs: Filesystem, backend: Streaming
) -> None:
    fh, data = streaming(fs, backend)
    fs.write(fh, 0, data[0])  # cuts the streamed upload off
    backend.fail_next("store", 409, "the object is being written", times=3)
    close(fs, fh)

    assert backend.data_of("/big") == b"".join(data)
    assert backend.requests["store"] == 4


# -- the hash check of a stored object (§8.8) --------------------------------------------------


@pytest.mark.parametrize("scheme", ["SHA-256", "SHA-1", "MD5", "SHA-384", "SHA-512"])
def test_hcp_hash_is_checked_in_the_namespace_scheme(scheme: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    sha256 = hashlib.sha256(data).hexdigest()
    right = hashlib.new(scheme.replace("-", "").lower(), data).hexdigest().upper()
    check_hash("/f", f"{scheme} {right}", sha256, (io.BytesIO(b"xx" + data), 2, len(data)))

    wrong = hashlib.new(scheme.replace("-", "").lower(), data[1:]).hexdigest().upper()
    with pytest.raises(IntegrityError) as raised:
        check_hash("/f", f"{scheme} {wrong}", sha256, (io.BytesIO(data), 0, len(data)))
    assert raised.value.expected == f"{scheme} {right}"


def test_an_unknown_hash_scheme_is_not_checked(caplog: pytest.LogCaptureFixture) -> None:
    check_hash("/f", "WHIRLPOOL-9 ABC", "00", (io.BytesIO(b"data"), 0, 4))
    assert "cannot check" in caplog.text
