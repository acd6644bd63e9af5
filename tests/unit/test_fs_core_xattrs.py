"""Extended attributes in the core: docs/SEMANTICS.md §8.16, against the memory backend."""

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hcpfs.fs.backend import ObjectInfo, ObjectSettings
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend, hcp_hash
from hcpfs.fs.options import Options
from hcpfs.fs.xattrs import XATTR_CREATE, XATTR_REPLACE

NOW = 1_700_000_000.0
SETTINGS = ["user.hcp.retention", "user.hcp.hold", "user.hcp.shred", "user.hcp.index"]


@pytest.fixture
def backend() -> MemoryBackend:
    backend = MemoryBackend(clock=lambda: NOW)
    backend.put_object("/f", b"data")
    backend.mkdir("/d")
    return backend


@pytest.fixture
def make_fs(tmp_path: Path) -> Iterator[Callable[[MemoryBackend], Filesystem]]:
    made: list[Filesystem] = []

    def make(backend: MemoryBackend) -> Filesystem:
        filesystem = Filesystem(backend, Options(staging_dir=tmp_path / "s"), clock=lambda: NOW)
        made.append(filesystem)
        return filesystem

    try:
        yield make
    finally:
        for filesystem in made:
            filesystem.close()


@pytest.fixture
def fs(backend: MemoryBackend, make_fs: Callable[[MemoryBackend], Filesystem]) -> Filesystem:
    return make_fs(backend)


def errno_of(call: Callable[..., object], *args: object) -> int:
    with pytest.raises(FsError) as caught:
        call(*args)
    return caught.value.errno


def info_of(backend: MemoryBackend, path: str) -> ObjectInfo:
    info = backend.stat(path)
    assert isinstance(info, ObjectInfo)
    return info


def test_settings_and_hash_can_be_read(fs: Filesystem) -> None:
    assert fs.getxattr("/f", "user.hcp.retention") == b"Deletion Allowed"
    assert fs.getxattr("/f", "user.hcp.hold") == b"false"
    assert fs.getxattr("/f", "user.hcp.shred") == b"false"
    assert fs.getxattr("/f", "user.hcp.index") == b"false"
    assert fs.getxattr("/f", "user.hcp.hash") == hcp_hash(b"data").encode()
    assert fs.listxattr("/f") == [*SETTINGS, "user.hcp.hash"]


def test_setting_hold_blocks_unlink(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.setxattr("/f", "user.hcp.hold", b"true\n")
    assert info_of(backend, "/f").hold
    assert fs.getxattr("/f", "user.hcp.hold") == b"true"
    assert errno_of(fs.unlink, "/f") == errno.EPERM
    fs.setxattr("/f", "user.hcp.hold", b"false")
    fs.unlink("/f")


def test_setting_retention(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.setxattr("/f", "user.hcp.retention", b"A+10d")
    assert info_of(backend, "/f").retention == int(NOW) + 10 * 86400
    assert fs.getxattr("/f", "user.hcp.retention").endswith(b"+0000")
    assert errno_of(fs.setxattr, "/f", "user.hcp.retention", b"A+1d") == errno.EINVAL
    assert errno_of(fs.unlink, "/f") == errno.EPERM


def test_values_hcp_or_hcpfs_reject(fs: Filesystem, backend: MemoryBackend) -> None:
    assert errno_of(fs.setxattr, "/f", "user.hcp.hold", b"maybe") == errno.EINVAL
    assert errno_of(fs.setxattr, "/f", "user.hcp.retention", b"") == errno.EINVAL
    fs.setxattr("/f", "user.hcp.shred", b"true")
    assert errno_of(fs.setxattr, "/f", "user.hcp.shred", b"false") == errno.EINVAL
    assert errno_of(fs.setxattr, "/f", "user.hcp.hash", b"x") == errno.EPERM
    assert errno_of(fs.setxattr, "/f", "user.hcp.hold", b"true", XATTR_CREATE) == errno.EEXIST


def test_hold_without_privilege_is_eacces(make_fs: Callable[[MemoryBackend], Filesystem]) -> None:
    backend = MemoryBackend(privileged=False)
    backend.put_object("/f", b"")
    assert errno_of(make_fs(backend).setxattr, "/f", "user.hcp.hold", b"true") == errno.EACCES


def test_other_names(fs: Filesystem, backend: MemoryBackend) -> None:
    before = sum(backend.requests.values())
    assert errno_of(fs.getxattr, "/f", "security.capability") == errno.ENOTSUP
    assert errno_of(fs.getxattr, "/f", "user.hcp.colour") == errno.ENODATA
    assert errno_of(fs.removexattr, "/f", "user.other") == errno.ENODATA
    assert sum(backend.requests.values()) == before  # no request for names hcpfs lacks
    assert errno_of(fs.setxattr, "/f", "user.other", b"x") == errno.ENOTSUP
    assert errno_of(fs.setxattr, "/f", "security.selinux", b"x") == errno.ENOTSUP


def test_settings_cannot_be_removed(fs: Filesystem) -> None:
    for name in [*SETTINGS, "user.hcp.hash"]:
        assert errno_of(fs.removexattr, "/f", name) == errno.EPERM


def test_annotations(fs: Filesystem, backend: MemoryBackend) -> None:
    fs.setxattr("/f", "user.hcp.annotation.report", b"<r/>")
    assert backend.annotations_of("/f") == {"report": b"<r/>"}
    assert fs.getxattr("/f", "user.hcp.annotation.report") == b"<r/>"
    assert "user.hcp.annotation.report" in fs.listxattr("/f")
    fs.setxattr("/f", "user.hcp.annotation.report", b"<s/>", XATTR_REPLACE)
    assert backend.annotations_of("/f") == {"report": b"<s/>"}
    assert (
        errno_of(fs.setxattr, "/f", "user.hcp.annotation.report", b"", XATTR_CREATE)
        == errno.EEXIST
    )
    assert (
        errno_of(fs.setxattr, "/f", "user.hcp.annotation.new", b"", XATTR_REPLACE) == errno.ENODATA
    )
    fs.removexattr("/f", "user.hcp.annotation.report")
    assert backend.annotations_of("/f") == {}
    assert errno_of(fs.getxattr, "/f", "user.hcp.annotation.report") == errno.ENODATA
    assert errno_of(fs.removexattr, "/f", "user.hcp.annotation.report") == errno.ENODATA


def test_annotation_limits(fs: Filesystem, backend: MemoryBackend) -> None:
    for number in range(10):
        fs.setxattr("/f", f"user.hcp.annotation.a{number}", b"v")
    assert errno_of(fs.setxattr, "/f", "user.hcp.annotation.eleventh", b"v") == errno.ENOSPC
    fs.removexattr("/f", "user.hcp.annotation.a0")
    big = b"x" * (1024 * 1024 + 1)
    assert errno_of(fs.setxattr, "/f", "user.hcp.annotation.big", big) == errno.E2BIG
    assert errno_of(fs.setxattr, "/f", "user.hcp.annotation.bad name", b"") == errno.EINVAL
    assert errno_of(fs.setxattr, "/f", "user.hcp.annotation.hcpfs-symlink", b"") == errno.EINVAL


def test_annotation_replace_under_retention_is_eperm(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_annotation("/f", "note", b"1")
    backend.set_metadata("/f", ObjectSettings(retention="-1"))
    assert errno_of(fs.setxattr, "/f", "user.hcp.annotation.note", b"2") == errno.EPERM


def test_directories_and_links_have_none(fs: Filesystem) -> None:
    fs.symlink("/l", "f")
    for path in ("/d", "/l"):
        assert fs.listxattr(path) == []
        assert errno_of(fs.getxattr, path, "user.hcp.hold") == errno.ENODATA
        assert errno_of(fs.setxattr, path, "user.hcp.hold", b"true") == errno.ENOTSUP
    assert errno_of(fs.getxattr, "/missing", "user.hcp.hold") == errno.ENOENT


def test_settings_of_a_file_not_uploaded_yet_go_with_the_upload(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    opened = fs.create("/new", 0o644)
    fs.write(opened.fh, 0, b"x")
    fs.setxattr("/new", "user.hcp.retention", b"N+1d")
    fs.setxattr("/new", "user.hcp.index", b"true")
    fs.setxattr("/new", "user.hcp.annotation.meta", b"<m/>")
    assert fs.getxattr("/new", "user.hcp.index") == b"true"
    assert fs.getxattr("/new", "user.hcp.retention") == b"N+1d"
    assert fs.listxattr("/new") == ["user.hcp.annotation.meta"]
    assert errno_of(fs.getxattr, "/new", "user.hcp.hold") == errno.ENODATA
    assert backend.requests["set_metadata"] == 0
    fs.release(opened.fh)
    info = info_of(backend, "/new")
    assert info.index
    assert info.retention == int(NOW) + 86400
    assert backend.annotations_of("/new") == {"meta": b"<m/>"}
    assert backend.requests["set_metadata"] == 0  # sent with the store itself
    assert errno_of(fs.unlink, "/new") == errno.EPERM


def test_pending_annotation_removal_and_limits(fs: Filesystem) -> None:
    opened = fs.create("/new", 0o644)
    fs.setxattr("/new", "user.hcp.annotation.a", b"1")
    fs.removexattr("/new", "user.hcp.annotation.a")
    assert errno_of(fs.removexattr, "/new", "user.hcp.annotation.a") == errno.ENODATA
    for number in range(10):
        fs.setxattr("/new", f"user.hcp.annotation.n{number}", b"")
    assert errno_of(fs.setxattr, "/new", "user.hcp.annotation.more", b"") == errno.ENOSPC
    fs.release(opened.fh)
    assert fs.open_handles() == 0
    assert len(fs.listxattr("/new")) == 5 + 10  # stored with its ten annotations


# copying attributes, as mv and cp -a do (§8.16)


def test_hash_can_be_copied_but_not_changed(fs: Filesystem, backend: MemoryBackend) -> None:
    before = sum(backend.requests.values())
    fs.setxattr("/f", "user.hcp.hash", hcp_hash(b"data").encode())
    assert sum(backend.requests.values()) == before + 1  # the HEAD, no change
    assert errno_of(fs.setxattr, "/f", "user.hcp.hash", b"SHA-256 00") == errno.EPERM
    opened = fs.create("/copy", 0o644)
    fs.setxattr("/copy", "user.hcp.hash", b"SHA-256 ANYTHING")  # checked by the upload itself
    fs.release(opened.fh)


def test_setting_the_current_value_sends_nothing(make_fs: Callable[..., Filesystem]) -> None:
    backend = MemoryBackend(privileged=False)
    backend.put_object("/f", b"")
    fs = make_fs(backend)
    for name, value in [
        ("user.hcp.hold", b"false"),
        ("user.hcp.shred", b"false"),
        ("user.hcp.retention", b"Deletion Allowed"),
    ]:
        fs.setxattr("/f", name, value)
    assert backend.requests["set_metadata"] == 0


def test_copied_attributes_of_a_new_file_need_no_privilege(
    make_fs: Callable[..., Filesystem],
) -> None:
    source = MemoryBackend(privileged=False)
    source.put_object("/src", b"payload")
    fs = make_fs(source)
    opened = fs.create("/dst", 0o644)
    fs.write(opened.fh, 0, b"payload")
    for name in fs.listxattr("/src"):
        fs.setxattr("/dst", name, fs.getxattr("/src", name))
    fs.flush(opened.fh)
    fs.release(opened.fh)
    assert source.data_of("/dst") == b"payload"
    assert fs.getxattr("/dst", "user.hcp.hold") == b"false"


def test_settings_while_rewriting_a_file_go_with_its_upload(
    fs: Filesystem, backend: MemoryBackend
) -> None:
    backend.put_annotation("/f", "old", b"1")
    opened = fs.open("/f", os.O_WRONLY | os.O_TRUNC)
    fs.write(opened.fh, 0, b"new")
    fs.setxattr("/f", "user.hcp.index", b"true")
    fs.setxattr("/f", "user.hcp.annotation.fresh", b"2")
    assert fs.getxattr("/f", "user.hcp.index") == b"true"
    assert fs.getxattr("/f", "user.hcp.shred") == b"false"  # still the object's
    assert set(fs.listxattr("/f")) >= {"user.hcp.annotation.old", "user.hcp.annotation.fresh"}
    assert backend.requests["set_metadata"] == 0
    assert backend.requests["put_annotation"] == 1  # the one above
    fs.release(opened.fh)
    assert info_of(backend, "/f").index
    assert backend.annotations_of("/f") == {"fresh": b"2"}  # a new object has its own
