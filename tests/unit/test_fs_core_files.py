"""Files in the core: docs/SEMANTICS.md §4 and §8.1-§8.10, against the memory backend."""

import errno
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hcpfs.fs.backend import ObjectSettings
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options, Overwrite
from hcpfs.fs.staging import StagingArea

NOW = 1_700_000_000.0


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(clock=lambda: NOW)


@pytest.fixture
def make_fs(tmp_path: Path) -> Iterator[Callable[..., Filesystem]]:
    made: list[Filesystem] = []

    def make(backend: MemoryBackend, **changes: object) -> Filesystem:
        settings: dict[str, object] = {"uid": 1234, "gid": 567, **changes}
        options = Options(staging_dir=tmp_path / "staging", **settings)  # type: ignore[arg-type]
        filesystem = Filesystem(backend, options, clock=lambda: NOW)
        made.append(filesystem)
        return filesystem

    try:
        yield make
    finally:
        for filesystem in made:
            filesystem.close()


@pytest.fixture
def fs(backend: MemoryBackend, make_fs: Callable[..., Filesystem]) -> Filesystem:
    return make_fs(backend)


def write_file(fs: Filesystem, path: str, data: bytes) -> None:
    opened = fs.create(path, 0o644, os.O_WRONLY)
    try:
        fs.write(opened.fh, 0, data)
        fs.flush(opened.fh)
    finally:
        fs.release(opened.fh)


def read_file(fs: Filesystem, path: str) -> bytes:
    opened = fs.open(path, os.O_RDONLY)
    try:
        return fs.read(opened.fh, 0, 1 << 20)
    finally:
        fs.release(opened.fh)


def errno_of(call: Callable[..., object], *args: object) -> int:
    with pytest.raises(FsError) as caught:
        call(*args)
    return caught.value.errno


def staged_files(tmp_path: Path) -> list[Path]:
    """The staging files that hold data (not the emptied ones kept for reuse)."""
    return sorted(leftover.data for leftover in StagingArea(tmp_path / "staging").leftovers())


# §4 Attributes


def test_attributes_of_files_directories_and_protected_objects(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/d/file", b"12345")
    backend.put_object("/d/kept", b"x", ObjectSettings(retention="-1"))
    attrs = fs.getattr("/d/file")
    assert attrs["st_mode"] == stat.S_IFREG | 0o644
    assert (attrs["st_uid"], attrs["st_gid"], attrs["st_size"]) == (1234, 567, 5)
    assert attrs["st_mtime"] == int(NOW * 1e9)
    assert attrs["st_blocks"] == 1
    assert fs.getattr("/d")["st_mode"] == stat.S_IFDIR | 0o755
    assert fs.getattr("/d/kept")["st_mode"] == stat.S_IFREG | 0o444
    assert fs.getattr("/")["st_mode"] == stat.S_IFDIR | 0o755


def test_umask_option(backend: MemoryBackend, make_fs: Callable[..., Filesystem]) -> None:
    backend.put_object("/f", b"")
    fs = make_fs(backend, umask=0o077)
    assert stat.S_IMODE(fs.getattr("/f")["st_mode"]) == 0o600
    assert stat.S_IMODE(fs.getattr("/")["st_mode"]) == 0o700


# §8.1 getattr


def test_getattr_missing_is_enoent_and_remembered(fs: Filesystem, backend: MemoryBackend) -> None:
    assert errno_of(fs.getattr, "/nope") == errno.ENOENT
    assert errno_of(fs.getattr, "/nope") == errno.ENOENT
    assert backend.requests["stat"] == 1


def test_getattr_is_cached_for_attr_ttl(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    backend.put_object("/f", b"1")
    fs = make_fs(backend, attr_ttl=60)
    fs.getattr("/f")
    fs.getattr("/f")
    assert backend.requests["stat"] == 1
    uncached = make_fs(backend, attr_ttl=0, listing_ttl=0, negative_ttl=0)
    uncached.getattr("/f")
    uncached.getattr("/f")
    assert backend.requests["stat"] == 3


def test_name_and_path_limits(fs: Filesystem) -> None:
    assert errno_of(fs.getattr, "/" + "n" * 256) == errno.ENAMETOOLONG
    assert errno_of(fs.getattr, "/a" * 2048) == errno.ENAMETOOLONG


# §8.2 readdir


def test_readdir_needs_no_request_per_entry(fs: Filesystem, backend: MemoryBackend) -> None:
    for number in range(20):
        backend.put_object(f"/d/f{number:02}", b"x" * number)
    entries = fs.readdir("/d")
    assert [name for name, _ in entries[:2]] == [".", ".."]
    assert [name for name, _ in entries[2:]] == [f"f{n:02}" for n in range(20)]
    for number in range(20):
        assert fs.getattr(f"/d/f{number:02}")["st_size"] == number
    assert errno_of(fs.getattr, "/d/absent") == errno.ENOENT
    assert backend.requests["listdir"] == 1
    assert backend.requests["stat"] == 1  # the directory itself


def test_readdir_lists_files_not_uploaded_yet(fs: Filesystem) -> None:
    opened = fs.create("/new", 0o644)
    assert "new" in [name for name, _ in fs.readdir("/")]
    fs.release(opened.fh)


def test_readdir_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    assert errno_of(fs.readdir, "/missing") == errno.ENOENT
    assert errno_of(fs.readdir, "/f") == errno.ENOTDIR


def test_readdir_leaves_out_names_linux_cannot_show(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/d/" + "x" * 300, b"")
    backend.put_object("/d/ok", b"")
    assert [name for name, _ in fs.readdir("/d")][2:] == ["ok"]


# §8.3 statfs


def test_statfs_from_statistics_and_cached(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    backend.capacity = 4096 * 100
    backend.put_object("/a", b"x" * 4096 * 10)
    fs = make_fs(backend, statfs_ttl=3600)
    stats = fs.statfs()
    assert (stats["f_blocks"], stats["f_bfree"], stats["f_bsize"]) == (100, 90, 4096)
    assert stats["f_files"] == 1 + 90
    fs.statfs()
    assert backend.requests["statistics"] == 1


def test_statfs_uses_last_answer_when_hcp_fails(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    fs = make_fs(backend, statfs_ttl=0)
    backend.disconnect_next("statistics")
    assert fs.statfs()["f_blocks"] == 0
    first = fs.statfs()
    backend.fail_next("statistics", 503)
    assert fs.statfs() == first


# §8.4 access


def test_access(backend: MemoryBackend, make_fs: Callable[..., Filesystem]) -> None:
    backend.put_object("/f", b"")
    backend.put_object("/held", b"", ObjectSettings(hold=True))
    fs = make_fs(backend)
    fs.access("/f", os.R_OK | os.W_OK)
    assert errno_of(fs.access, "/held", os.W_OK) == errno.EACCES
    assert errno_of(fs.access, "/f", os.X_OK) == errno.EACCES
    fs.access("/", os.X_OK)
    assert errno_of(fs.access, "/missing", os.F_OK) == errno.ENOENT
    assert errno_of(make_fs(backend, read_only=True).access, "/f", os.W_OK) == errno.EROFS


# §8.5 open


def test_open_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    backend.put_object("/kept", b"x", ObjectSettings(retention="-1"))
    assert errno_of(fs.open, "/missing", os.O_RDONLY) == errno.ENOENT
    assert errno_of(fs.open, "/d", os.O_RDONLY) == errno.EISDIR
    assert errno_of(fs.open, "/kept", os.O_WRONLY) == errno.EPERM
    assert errno_of(fs.open, "/kept", os.O_RDONLY | os.O_TRUNC) == errno.EPERM
    assert read_file(fs, "/kept") == b"x"


def test_open_for_writing_without_writes_sends_nothing(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"old")
    opened = fs.open("/f", os.O_RDWR)
    assert fs.read(opened.fh, 0, 10) == b"old"
    fs.flush(opened.fh)
    fs.release(opened.fh)
    assert backend.requests["store"] == 0
    assert backend.requests["delete"] == 0


def test_keep_cache_only_while_the_object_is_unchanged(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"one")
    for expected in (False, True):
        opened = fs.open("/f", os.O_RDONLY)
        assert opened.keep_cache is expected
        fs.release(opened.fh)
    write_over = fs.open("/f", os.O_WRONLY | os.O_TRUNC)
    fs.write(write_over.fh, 0, b"two")
    fs.flush(write_over.fh)
    fs.release(write_over.fh)
    assert fs.open("/f", os.O_RDONLY).keep_cache is False


@pytest.mark.parametrize(
    ("flags", "direct"),
    [
        (os.O_WRONLY | os.O_TRUNC, True),
        (os.O_WRONLY, False),
        (os.O_WRONLY | os.O_APPEND, False),
        (os.O_RDWR | os.O_TRUNC, False),
        (os.O_RDONLY, False),
    ],
)
def test_only_write_only_handles_of_emptied_files_bypass_the_page_cache(
    fs: Filesystem, backend: MemoryBackend, flags: int, direct: bool
) -> None:
    """§8.7: the kernel may skip its page cache only where nothing cached stays valid."""
    backend.put_object("/f", b"old")
    opened = fs.open("/f", flags)
    assert opened.direct is direct
    fs.release(opened.fh)
    for create_flags, expected in ((os.O_WRONLY, True), (os.O_RDWR, False)):
        created = fs.create(f"/new-{create_flags}", 0o644, create_flags | os.O_CREAT)
        assert created.direct is expected
        fs.release(created.fh)


def test_overwrite_refuse(backend: MemoryBackend, make_fs: Callable[..., Filesystem]) -> None:
    backend.put_object("/f", b"old")
    fs = make_fs(backend, overwrite=Overwrite.REFUSE)
    assert errno_of(fs.open, "/f", os.O_WRONLY) == errno.EPERM
    assert errno_of(fs.open, "/f", os.O_RDONLY | os.O_TRUNC) == errno.EPERM
    assert errno_of(fs.truncate, "/f", 0) == errno.EPERM
    write_file(fs, "/new", b"fine")
    assert backend.data_of("/new") == b"fine"
    assert backend.data_of("/f") == b"old"


# §8.6 read


def test_read_large_file_in_pieces(fs: Filesystem, backend: MemoryBackend) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    backend.put_object("/big", data)
    opened = fs.open("/big", os.O_RDONLY)
    pieces = [fs.read(opened.fh, offset, 131072) for offset in range(0, len(data), 131072)]
    fs.release(opened.fh)
    assert b"".join(pieces) == data


def test_read_after_change_by_another_client_is_estale(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"a" * 100)
    opened = fs.open("/f", os.O_RDONLY)
    backend.put_object("/f", b"b" * 100)
    assert errno_of(fs.read, opened.fh, 0, 10) == errno.ESTALE
    fs.release(opened.fh)


def test_read_after_delete_by_another_client_is_estale(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"a" * 100)
    opened = fs.open("/f", os.O_RDONLY)
    backend.delete("/f")
    assert errno_of(fs.read, opened.fh, 0, 10) == errno.ESTALE
    fs.release(opened.fh)


def test_unknown_handle_is_ebadf(fs: Filesystem) -> None:
    assert errno_of(fs.read, 999, 0, 1) == errno.EBADF


# §8.7 create and write


def test_create_sends_nothing_until_close(fs: Filesystem, backend: MemoryBackend) -> None:
    opened = fs.create("/new", 0o644)
    fs.write(opened.fh, 0, b"hello")
    assert backend.requests["store"] == 0
    assert backend.data_of("/new") is None
    assert fs.getattr("/new")["st_size"] == 5
    fs.flush(opened.fh)
    fs.release(opened.fh)
    assert backend.data_of("/new") == b"hello"
    assert backend.requests["store"] == 1


def test_other_handles_read_unflushed_writes(fs: Filesystem) -> None:
    writer = fs.create("/f", 0o644)
    fs.write(writer.fh, 0, b"fresh")
    reader = fs.open("/f", os.O_RDONLY)
    assert fs.read(reader.fh, 0, 100) == b"fresh"
    fs.release(reader.fh)
    fs.release(writer.fh)


def test_out_of_order_writes_are_stored_with_the_right_hash(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 5, b"world")
    fs.write(opened.fh, 0, b"hello")
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"helloworld"


def test_write_beyond_hcp_limit_is_efbig(fs: Filesystem) -> None:
    opened = fs.create("/f", 0o644)
    assert errno_of(fs.write, opened.fh, 2 * 10**12, b"x") == errno.EFBIG
    assert errno_of(fs.truncate, "/f", 2 * 10**12 + 1) == errno.EFBIG
    fs.release(opened.fh)


def test_write_on_read_handle_is_ebadf(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    opened = fs.open("/f", os.O_RDONLY)
    assert errno_of(fs.write, opened.fh, 0, b"x") == errno.EBADF
    fs.release(opened.fh)


def test_empty_new_file_is_stored(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.release(fs.create("/touched", 0o644).fh)
    assert backend.data_of("/touched") == b""


# §8.8 flush, close and fsync


def test_upload_happens_at_the_last_close(fs: Filesystem, backend: MemoryBackend) -> None:
    first = fs.create("/f", 0o644)
    second = fs.open("/f", os.O_WRONLY)
    fs.write(first.fh, 0, b"data")
    fs.flush(first.fh)
    fs.release(first.fh)
    assert backend.data_of("/f") is None
    fs.flush(second.fh)
    assert backend.data_of("/f") == b"data"
    fs.release(second.fh)
    assert backend.requests["store"] == 1


def test_fsync_uploads_and_a_later_write_uploads_again(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    fs = make_fs(backend)
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"one")
    fs.fsync(opened.fh)
    assert backend.data_of("/f") == b"one"
    fs.fsync(opened.fh)
    assert backend.requests["store"] == 1
    fs.write(opened.fh, 3, b"two")
    fs.flush(opened.fh)
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"onetwo"
    assert backend.requests["delete"] == 1  # replaced, no versioning


def test_failed_upload_fails_close_and_keeps_the_data(
    fs: Filesystem, backend: MemoryBackend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fail_next("store", 413, "quota")
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"precious")
    with caplog.at_level(logging.WARNING, logger="hcpfs.fs.core"):
        assert errno_of(fs.flush, opened.fh) == errno.ENOSPC
        fs.release(opened.fh)
    assert backend.data_of("/f") is None
    assert errno_of(fs.getattr, "/f") == errno.ENOENT  # nothing half-written is visible
    [kept] = staged_files(tmp_path)
    assert kept.read_bytes() == b"precious"
    record = json.loads(kept.with_suffix(".json").read_text())
    assert (record["path"], record["state"]) == ("/f", "failed")
    assert str(kept) in caplog.text
    assert backend.requests["store"] == 1  # release does not try again by itself


def test_fsync_tries_again_after_a_failure(
    fs: Filesystem, backend: MemoryBackend, tmp_path: Path
) -> None:
    backend.disconnect_next("store")
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"data")
    assert errno_of(fs.fsync, opened.fh) == errno.EIO
    fs.fsync(opened.fh)
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"data"
    assert staged_files(tmp_path) == []


def test_hash_mismatch_is_eio_and_removes_the_corrupt_object(
    fs: Filesystem, backend: MemoryBackend, tmp_path: Path
) -> None:
    backend.corrupt_next_store()
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"data")
    assert errno_of(fs.flush, opened.fh) == errno.EIO
    fs.release(opened.fh)
    assert backend.data_of("/f") is None
    [kept] = staged_files(tmp_path)
    assert kept.read_bytes() == b"data"


def test_leftover_from_a_failed_upload_is_reported_at_next_start(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem], caplog: pytest.LogCaptureFixture
) -> None:
    fs = make_fs(backend)
    backend.fail_next("store", 500)
    opened = fs.create("/lost", 0o644)
    fs.write(opened.fh, 0, b"x")
    with pytest.raises(FsError):
        fs.flush(opened.fh)
    fs.release(opened.fh)
    with caplog.at_level(logging.WARNING, logger="hcpfs.fs.staging"):
        again = make_fs(backend)
    assert [leftover.path for leftover in again.leftovers] == ["/lost"]
    assert "/lost" in caplog.text


def test_another_client_created_the_name_meanwhile_is_eexist(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"mine")
    backend.put_object("/f", b"theirs")
    assert errno_of(fs.flush, opened.fh) == errno.EEXIST
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"theirs"


def test_changing_a_file_without_versioning_replaces_it(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"0123456789")
    opened = fs.open("/f", os.O_RDWR)
    fs.write(opened.fh, 2, b"ab")
    assert fs.read(opened.fh, 0, 100) == b"01ab456789"
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"01ab456789"
    assert backend.requests["delete"] == 1
    assert backend.statistics().object_count == 1


def test_changing_a_file_with_versioning_adds_a_version(
    make_fs: Callable[..., Filesystem],
) -> None:
    backend = MemoryBackend(versioning=True)
    backend.put_object("/f", b"old")
    fs = make_fs(backend)
    opened = fs.open("/f", os.O_WRONLY | os.O_APPEND)
    fs.write(opened.fh, 3, b"+new")
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"old+new"
    assert backend.requests["delete"] == 0
    assert backend.statistics().object_count == 2


def test_replace_failing_after_delete_keeps_the_new_data(
    fs: Filesystem, backend: MemoryBackend, tmp_path: Path
) -> None:
    backend.put_object("/f", b"old")
    opened = fs.open("/f", os.O_WRONLY | os.O_TRUNC)
    fs.write(opened.fh, 0, b"new")
    backend.fail_next("store", 503)
    assert errno_of(fs.flush, opened.fh) == errno.EIO
    fs.release(opened.fh)
    [kept] = staged_files(tmp_path)
    assert kept.read_bytes() == b"new"


def test_retention_set_by_another_client_after_open_fails_close(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"old")
    opened = fs.open("/f", os.O_WRONLY | os.O_TRUNC)
    fs.write(opened.fh, 0, b"new")
    backend.set_metadata("/f", ObjectSettings(hold=True))
    assert errno_of(fs.flush, opened.fh) == errno.EPERM
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"old"


def test_second_upload_under_overwrite_refuse_is_eperm(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    fs = make_fs(backend, overwrite=Overwrite.REFUSE)
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"one")
    fs.fsync(opened.fh)
    fs.write(opened.fh, 3, b"two")
    assert errno_of(fs.flush, opened.fh) == errno.EPERM
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"one"


def test_unmount_uploads_open_files(backend: MemoryBackend, tmp_path: Path) -> None:
    fs = Filesystem(backend, Options(staging_dir=tmp_path / "s"))
    opened = fs.create("/f", 0o644)
    fs.write(opened.fh, 0, b"late")
    fs.close()
    assert backend.data_of("/f") == b"late"
    assert fs.open_handles() == 0


# §8.9 truncate


def test_truncate_of_a_closed_file_uploads_at_once(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"0123456789")
    fs.truncate("/f", 4)
    assert backend.data_of("/f") == b"0123"
    assert backend.requests["read"] == 1
    fs.truncate("/f", 0)
    assert backend.data_of("/f") == b""
    assert backend.requests["read"] == 1  # nothing needed from the old content
    fs.truncate("/f", 0)
    assert backend.requests["store"] == 2  # same size: nothing to do


def test_truncate_through_an_open_handle_uploads_on_close(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/f", b"0123456789")
    opened = fs.open("/f", os.O_RDWR)
    fs.truncate("/f", 3, opened.fh)
    assert fs.getattr("/f")["st_size"] == 3
    assert backend.data_of("/f") == b"0123456789"
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"012"


def test_truncate_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    backend.put_object("/kept", b"x", ObjectSettings(retention="-1"))
    assert errno_of(fs.truncate, "/missing", 0) == errno.ENOENT
    assert errno_of(fs.truncate, "/d", 0) == errno.EISDIR
    assert errno_of(fs.truncate, "/kept", 0) == errno.EPERM
    assert errno_of(fs.truncate, "/kept", -1) == errno.EINVAL


# §8.10 unlink


def test_unlink(fs: Filesystem, backend: MemoryBackend) -> None:
    write_file(fs, "/f", b"x")
    fs.unlink("/f")
    assert backend.data_of("/f") is None
    assert errno_of(fs.getattr, "/f") == errno.ENOENT


def test_unlink_under_retention_is_eperm_and_keeps_the_object(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/kept", b"x", ObjectSettings(retention="N+1d"))
    assert errno_of(fs.unlink, "/kept") == errno.EPERM
    assert backend.data_of("/kept") == b"x"
    assert backend.requests["delete"] == 0


def test_unlink_refused_by_hcp_is_eperm(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"x")
    fs.getattr("/f")
    backend.set_metadata("/f", ObjectSettings(hold=True))  # the cache does not know yet
    assert errno_of(fs.unlink, "/f") == errno.EPERM
    assert backend.data_of("/f") == b"x"


def test_unlink_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    backend.put_object("/busy", b"")
    backend.fail_next("delete", 409)
    assert errno_of(fs.unlink, "/busy") == errno.EBUSY
    assert errno_of(fs.unlink, "/d") == errno.EISDIR
    assert errno_of(fs.unlink, "/missing") == errno.ENOENT


def test_unlink_of_a_file_not_uploaded_yet(
    fs: Filesystem, backend: MemoryBackend, tmp_path: Path
) -> None:
    opened = fs.create("/tmp", 0o644)
    fs.write(opened.fh, 0, b"scratch")
    fs.unlink("/tmp")
    assert errno_of(fs.getattr, "/tmp") == errno.ENOENT
    fs.write(opened.fh, 7, b"!")
    assert fs.read(opened.fh, 0, 100) == b"scratch!"
    fs.flush(opened.fh)
    fs.release(opened.fh)
    assert backend.requests["store"] == 0
    assert backend.requests["delete"] == 0
    assert staged_files(tmp_path) == []


# Concurrency: FUSE calls the core from several threads at once (§8.6-§8.8)


def test_many_threads_writing_and_reading_at_once(fs: Filesystem, backend: MemoryBackend) -> None:
    big = os.urandom(1024 * 1024)
    backend.put_object("/shared", big)
    failures: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for round_ in range(5):
                path = f"/t{number}-{round_}"
                write_file(fs, path, path.encode() * 100)
                assert read_file(fs, path) == path.encode() * 100
            assert read_file(fs, "/shared") == big
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert backend.data_of("/t7-4") == b"/t7-4" * 100
    assert fs.open_handles() == 0
