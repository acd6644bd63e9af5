"""Names in the core: docs/SEMANTICS.md §8.11-§8.15, against the memory backend."""

import dataclasses
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hcpfs.fs.backend import ObjectInfo, ObjectSettings
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options, Overwrite

NOW = 1_700_000_000.0


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(clock=lambda: NOW)


@pytest.fixture
def make_fs(tmp_path: Path) -> Iterator[Callable[..., Filesystem]]:
    made: list[Filesystem] = []

    def make(backend: MemoryBackend, **changes: object) -> Filesystem:
        options = Options(staging_dir=tmp_path / "staging", **changes)  # type: ignore[arg-type]
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


def errno_of(call: Callable[..., object], *args: object) -> int:
    with pytest.raises(FsError) as caught:
        call(*args)
    return caught.value.errno


def write_file(fs: Filesystem, path: str, data: bytes) -> None:
    opened = fs.create(path, 0o644)
    try:
        fs.write(opened.fh, 0, data)
        fs.flush(opened.fh)
    finally:
        fs.release(opened.fh)


# §8.11 mkdir and rmdir


def test_mkdir_and_rmdir(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.mkdir("/d", 0o755)
    assert stat.S_ISDIR(fs.getattr("/d")["st_mode"])
    fs.mkdir("/d/e", 0o700)
    assert stat.S_IMODE(fs.getattr("/d/e")["st_mode"]) == 0o700
    fs.rmdir("/d/e")
    fs.rmdir("/d")
    assert backend.paths() == ["/"]
    assert errno_of(fs.getattr, "/d") == errno.ENOENT


def test_mkdir_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    fs.mkdir("/d", 0o755)
    assert errno_of(fs.mkdir, "/d", 0o755) == errno.EEXIST
    assert errno_of(fs.mkdir, "/f", 0o755) == errno.EEXIST
    assert errno_of(fs.mkdir, "/no/parent", 0o755) == errno.ENOENT
    assert errno_of(fs.mkdir, "/f/child", 0o755) == errno.ENOTDIR
    assert backend.requests["mkdir"] == 1


def test_mkdir_created_meanwhile_by_another_client_is_eexist(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    assert errno_of(fs.getattr, "/d") == errno.ENOENT
    backend.mkdir("/d")
    assert errno_of(fs.mkdir, "/d", 0o755) == errno.EEXIST


def test_rmdir_of_a_non_empty_directory_is_enotempty(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/d/f", b"")
    assert errno_of(fs.rmdir, "/d") == errno.ENOTEMPTY
    assert backend.data_of("/d/f") == b""


def test_rmdir_with_a_file_not_uploaded_yet_sends_nothing(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    fs.mkdir("/d", 0o755)
    opened = fs.create("/d/new", 0o644)
    assert errno_of(fs.rmdir, "/d") == errno.ENOTEMPTY
    assert backend.requests["rmdir"] == 0
    fs.release(opened.fh)


def test_rmdir_403_on_an_empty_directory_is_eacces(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    backend.fail_next("rmdir", 403, "no delete permission")
    assert errno_of(fs.rmdir, "/d") == errno.EACCES


def test_rmdir_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    assert errno_of(fs.rmdir, "/") == errno.EBUSY
    assert errno_of(fs.rmdir, "/f") == errno.ENOTDIR
    assert errno_of(fs.rmdir, "/missing") == errno.ENOENT


# §8.12 rename


def test_rename_file_copies_then_deletes(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/a", b"data")
    backend.put_annotation("/a", "note", b"<n/>")
    fs.rename("/a", "/b")
    assert backend.data_of("/a") is None
    assert backend.data_of("/b") == b"data"
    assert backend.annotations_of("/b") == {"note": b"<n/>"}
    assert (backend.requests["copy"], backend.requests["delete"]) == (1, 1)
    assert errno_of(fs.getattr, "/a") == errno.ENOENT
    assert fs.getattr("/b")["st_size"] == 4


def test_rename_onto_an_existing_file_replaces_it(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/a", b"new")
    backend.put_object("/b", b"old")
    fs.rename("/a", "/b")
    assert backend.data_of("/b") == b"new"
    assert backend.data_of("/a") is None


def test_rename_onto_an_existing_file_with_versioning_adds_a_version(
    make_fs: Callable[..., Filesystem],
) -> None:
    backend = MemoryBackend(versioning=True)
    backend.put_object("/a", b"new")
    backend.put_object("/b", b"old")
    make_fs(backend).rename("/a", "/b")
    assert backend.data_of("/b") == b"new"
    assert backend.statistics().object_count == 3  # /b old and new, /a kept as a version


def test_rename_of_a_retained_source_fails_before_any_request(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/a", b"x", ObjectSettings(retention="-1"))
    assert errno_of(fs.rename, "/a", "/b") == errno.EPERM
    assert backend.requests["copy"] == 0
    assert backend.data_of("/b") is None


def test_rename_whose_source_delete_fails_leaves_no_copy(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/a", b"x")
    backend.fail_next("delete", 403, "object under retention", path="/a")
    assert errno_of(fs.rename, "/a", "/b") == errno.EPERM
    assert backend.data_of("/a") == b"x"
    assert backend.data_of("/b") is None
    assert errno_of(fs.getattr, "/b") == errno.ENOENT


def test_rename_checks_the_copy_hash(make_fs: Callable[..., Filesystem]) -> None:
    class BadCopy(MemoryBackend):
        def copy(self, source: str, target: str) -> ObjectInfo:
            return dataclasses.replace(super().copy(source, target), hash="SHA-256 00")

    backend = BadCopy()
    backend.put_object("/a", b"x")
    fs = make_fs(backend)
    assert errno_of(fs.rename, "/a", "/b") == errno.EIO
    assert backend.data_of("/a") == b"x"
    assert backend.data_of("/b") is None


def test_rename_target_refusals(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    backend.put_object("/a", b"1")
    backend.put_object("/kept", b"2", ObjectSettings(hold=True))
    backend.put_object("/other", b"3")
    backend.mkdir("/dir")
    fs = make_fs(backend)
    assert errno_of(fs.rename, "/a", "/kept") == errno.EPERM
    assert errno_of(fs.rename, "/a", "/dir") == errno.EISDIR
    assert errno_of(fs.rename, "/missing", "/x") == errno.ENOENT
    assert errno_of(fs.rename, "/a", "/nodir/x") == errno.ENOENT
    refusing = make_fs(backend, overwrite=Overwrite.REFUSE)
    assert errno_of(refusing.rename, "/a", "/other") == errno.EPERM
    assert backend.data_of("/other") == b"3"
    assert backend.data_of("/a") == b"1"


def test_rename_to_itself_does_nothing(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/a", b"1")
    fs.rename("/a", "/a")
    assert backend.data_of("/a") == b"1"
    assert backend.requests["copy"] == 0


def test_rename_of_a_file_not_uploaded_yet_is_local(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    opened = fs.create("/tmp.part", 0o644)
    fs.write(opened.fh, 0, b"content")
    fs.rename("/tmp.part", "/final")
    assert backend.requests["copy"] == backend.requests["store"] == 0
    assert fs.getattr("/final")["st_size"] == 7
    assert errno_of(fs.getattr, "/tmp.part") == errno.ENOENT
    fs.write(opened.fh, 7, b"!")
    fs.release(opened.fh)
    assert backend.data_of("/final") == b"content!"
    assert backend.data_of("/tmp.part") is None


def test_rename_of_a_pending_file_onto_an_existing_one_replaces_it_on_close(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/final", b"old")
    opened = fs.create("/tmp", 0o644)
    fs.write(opened.fh, 0, b"new")
    fs.rename("/tmp", "/final")
    assert backend.data_of("/final") == b"old"
    fs.release(opened.fh)
    assert backend.data_of("/final") == b"new"


def test_rename_of_a_file_open_for_writing_uploads_first(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    opened = fs.create("/a", 0o644)
    fs.write(opened.fh, 0, b"one")
    fs.fsync(opened.fh)
    fs.write(opened.fh, 3, b"two")
    fs.rename("/a", "/b")
    assert backend.data_of("/b") == b"onetwo"
    fs.write(opened.fh, 6, b"three")
    fs.release(opened.fh)
    assert backend.data_of("/b") == b"onetwothree"
    assert backend.data_of("/a") is None


def test_rename_moves_open_readers(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/a", b"0123456789")
    reader = fs.open("/a", os.O_RDONLY)
    assert fs.read(reader.fh, 0, 2) == b"01"
    fs.rename("/a", "/b")
    assert fs.read(reader.fh, 2, 3) == b"234"
    fs.release(reader.fh)


def test_rename_onto_a_file_open_for_writing_is_ebusy(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_object("/a", b"1")
    opened = fs.create("/b", 0o644)
    assert errno_of(fs.rename, "/a", "/b") == errno.EBUSY
    fs.release(opened.fh)


def test_rename_of_an_empty_directory(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    fs.rename("/d", "/e")
    assert backend.paths() == ["/", "/e/"]
    backend.mkdir("/f")
    fs.rename("/e", "/f")  # onto an empty directory
    assert backend.paths() == ["/", "/f/"]


def test_rename_of_a_non_empty_directory_is_exdev(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/d/x", b"")
    assert errno_of(fs.rename, "/d", "/e") == errno.EXDEV
    assert backend.paths() == ["/", "/d/", "/d/x"]


def test_rename_directory_refusals(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.mkdir("/d")
    backend.put_object("/full/x", b"")
    backend.put_object("/f", b"")
    assert errno_of(fs.rename, "/d", "/d/inner") == errno.EINVAL
    assert errno_of(fs.rename, "/d", "/f") == errno.ENOTDIR
    assert errno_of(fs.rename, "/d", "/full") == errno.ENOTEMPTY


def test_rename_of_a_directory_whose_delete_fails_removes_the_new_one(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.mkdir("/d")
    backend.fail_next("rmdir", 409, path="/d")
    assert errno_of(fs.rename, "/d", "/e") == errno.EBUSY
    assert backend.paths() == ["/", "/d/"]


# §8.13 link


def test_link_is_eperm(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/a", b"")
    assert errno_of(fs.link, "/b", "/a") == errno.EPERM


# §8.14 symlink and readlink


def test_symlink_readlink_and_attributes(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    fs = make_fs(backend)
    fs.symlink("/l", "../some/target")
    assert fs.readlink("/l") == "../some/target"
    attrs = fs.getattr("/l")
    assert attrs["st_mode"] == stat.S_IFLNK | 0o777
    assert attrs["st_size"] == len("../some/target")
    fresh = make_fs(backend)  # sees the link through HCP only
    assert fresh.readlink("/l") == "../some/target"
    assert [name for name, _ in fresh.readdir("/")][2:] == ["l"]
    assert errno_of(fs.symlink, "/l", "x") == errno.EEXIST
    assert errno_of(fs.readlink, "/missing") == errno.ENOENT


def test_native_symlink_needs_no_read(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_native_symlink("/n", "target")
    assert fs.readlink("/n") == "target"
    assert backend.requests["read"] == 0


def test_readlink_of_a_file_is_einval(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    assert errno_of(fs.readlink, "/f") == errno.EINVAL


def test_rename_and_unlink_of_a_symlink(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.symlink("/l", "target")
    fs.rename("/l", "/m")
    assert fs.readlink("/m") == "target"
    assert errno_of(fs.getattr, "/l") == errno.ENOENT
    fs.unlink("/m")
    assert backend.paths() == ["/"]


# §8.15 chmod, chown, utimens


def test_chmod_chown_utimens_are_kept_in_memory(fs: Filesystem, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    fs.chmod("/f", stat.S_IFREG | 0o755)
    fs.chown("/f", 42, -1)
    fs.utimens("/f", 1_000_000_000, 2_000_000_000)
    attrs = fs.getattr("/f")
    assert stat.S_IMODE(attrs["st_mode"]) == 0o755
    assert attrs["st_uid"] == 42
    assert attrs["st_gid"] == os.getgid()
    assert (attrs["st_atime"], attrs["st_mtime"]) == (1_000_000_000, 2_000_000_000)
    fs.utimens("/f", None, 3_000_000_000)
    assert fs.getattr("/f")["st_atime"] == 1_000_000_000
    assert sum(backend.requests.values()) == 2  # namespace_info, one HEAD


def test_local_attributes_follow_rename_and_go_with_unlink(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    fs = make_fs(backend, attr_ttl=0, negative_ttl=0, listing_ttl=0)
    backend.put_object("/f", b"")
    fs.chmod("/f", 0o600)
    fs.rename("/f", "/g")
    assert stat.S_IMODE(fs.getattr("/g")["st_mode"]) == 0o600
    fs.unlink("/g")
    backend.put_object("/g", b"")
    assert stat.S_IMODE(fs.getattr("/g")["st_mode"]) == 0o644


def test_create_mode_is_kept_like_chmod(fs: Filesystem) -> None:
    opened = fs.create("/script", 0o755)
    fs.release(opened.fh)
    assert stat.S_IMODE(fs.getattr("/script")["st_mode"]) == 0o755


def test_chmod_of_a_missing_path_is_enoent(fs: Filesystem) -> None:
    assert errno_of(fs.chmod, "/missing", 0o644) == errno.ENOENT
    assert errno_of(fs.chown, "/missing", 1, 1) == errno.ENOENT
    assert errno_of(fs.utimens, "/missing", None, None) == errno.ENOENT


# read-only mounts refuse every change with EROFS (§7)


def test_read_only_mount_refuses_every_change(
    backend: MemoryBackend, make_fs: Callable[..., Filesystem]
) -> None:
    backend.put_object("/f", b"x")
    backend.mkdir("/d")
    fs = make_fs(backend, read_only=True)
    refused: list[tuple[Callable[..., object], tuple[object, ...]]] = [
        (fs.create, ("/n", 0o644)),
        (fs.open, ("/f", os.O_WRONLY)),
        (fs.truncate, ("/f", 0)),
        (fs.unlink, ("/f",)),
        (fs.mkdir, ("/e", 0o755)),
        (fs.rmdir, ("/d",)),
        (fs.rename, ("/f", "/g")),
        (fs.symlink, ("/l", "f")),
        (fs.chmod, ("/f", 0o600)),
        (fs.chown, ("/f", 1, 1)),
        (fs.utimens, ("/f", None, None)),
        (fs.setxattr, ("/f", "user.hcp.hold", b"true")),
        (fs.removexattr, ("/f", "user.hcp.annotation.x")),
    ]
    for call, args in refused:
        assert errno_of(call, *args) == errno.EROFS, call.__name__
    opened = fs.open("/f", os.O_RDONLY)
    assert fs.read(opened.fh, 0, 10) == b"x"
    fs.release(opened.fh)
    assert backend.data_of("/f") == b"x"
