"""The mfusepy adapter: errno translation (docs/SEMANTICS.md §7), options (§9), wiring."""

import ctypes
import errno
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mfusepy  # type: ignore[import-untyped]  # no type information shipped
import pytest

from hcpfs.fs import fuse
from hcpfs.fs.core import Filesystem
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options


@dataclass
class FileInfo:
    """Stands in for mfusepy's ``fuse_file_info`` (raw_fi=True)."""

    flags: int = os.O_RDONLY
    fh: int = 0
    keep_cache: int = 0
    direct_io: int = 0


@dataclass
class Conn:
    max_write: int = 0
    max_readahead: int = 0
    want: int = 0xFFFF


@dataclass
class Config:
    attr_timeout: float = 0.0
    entry_timeout: float = 0.0
    negative_timeout: float = 0.0


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def filesystem(backend: MemoryBackend, tmp_path: Path) -> Iterator[Filesystem]:
    options = Options(staging_dir=tmp_path / "s", attr_ttl=2, entry_ttl=3, negative_ttl=4)
    made = Filesystem(backend, options)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def ops(filesystem: Filesystem) -> fuse.FuseOperations:
    return fuse.FuseOperations(filesystem)


def errno_of(call: Any, *args: object) -> int:
    with pytest.raises(mfusepy.FuseOSError) as caught:
        call(*args)
    return int(caught.value.errno)


def test_refusal_becomes_its_errno_logged_at_debug_without_traceback(
    ops: fuse.FuseOperations, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="hcpfs.fs.fuse"):
        assert errno_of(ops.getattr, "/missing") == errno.ENOENT
    [record] = [r for r in caplog.records if r.name == "hcpfs.fs.fuse"]
    assert record.levelno == logging.DEBUG
    assert record.exc_info is None
    assert "/missing" in record.getMessage()


def test_unexpected_exception_becomes_eio_with_one_traceback(
    ops: fuse.FuseOperations,
    backend: MemoryBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(path: str) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(backend, "stat", broken)
    with caplog.at_level(logging.ERROR, logger="hcpfs.fs.fuse"):
        assert errno_of(ops.getattr, "/a") == errno.EIO
        assert errno_of(ops.getattr, "/b") == errno.EIO
    first, second = (r for r in caplog.records if r.name == "hcpfs.fs.fuse")
    assert first.levelno == second.levelno == logging.ERROR
    assert first.exc_info is not None
    assert second.exc_info is None


def test_open_create_read_write_release_through_file_info(
    ops: fuse.FuseOperations, backend: MemoryBackend
) -> None:
    created = FileInfo(flags=os.O_WRONLY | os.O_CREAT)
    assert ops.create("/f", 0o644, created) == 0
    assert created.fh > 0
    assert created.direct_io == 1
    assert ops.write("/f", b"hello", 0, created) == 5
    assert ops.flush("/f", created) == 0
    assert ops.release("/f", created) == 0
    assert backend.data_of("/f") == b"hello"
    for expected_keep in (0, 1):
        opened = FileInfo(flags=os.O_RDONLY)
        assert ops.open("/f", opened) == 0
        assert opened.keep_cache == expected_keep
        assert opened.direct_io == 0
        assert ops.read("/f", 100, 0, opened) == b"hello"
        ops.release("/f", opened)
    assert ops.getattr("/f", None)["st_size"] == 5


def test_fsync_truncate_and_getattr_with_a_handle(
    ops: fuse.FuseOperations, backend: MemoryBackend
) -> None:
    created = FileInfo(flags=os.O_RDWR)
    ops.create("/f", 0o644, created)
    ops.write("/f", b"0123456789", 0, created)
    ops.truncate("/f", 4, created)
    assert ops.getattr("/f", created)["st_size"] == 4
    assert ops.fsync("/f", 0, created) == 0
    assert backend.data_of("/f") == b"0123"
    ops.release("/f", created)


def test_names_directories_and_links(ops: fuse.FuseOperations, backend: MemoryBackend) -> None:
    assert ops.mkdir("/d", 0o755) == 0
    assert ops.symlink("/d/link", "../target") == 0  # link path first, then its content
    assert ops.readlink("/d/link") == "../target"
    assert [name for name, _, _ in ops.readdir("/d", 0)] == [".", "..", "link"]
    assert ops.rename("/d/link", "/d/moved") == 0
    assert ops.unlink("/d/moved") == 0
    assert ops.rmdir("/d") == 0
    assert errno_of(ops.link, "/b", "/a") == errno.EPERM
    assert backend.paths() == ["/"]


def test_metadata_operations(ops: fuse.FuseOperations, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    assert ops.chmod("/f", 0o700) == 0
    assert ops.chown("/f", 5, 6) == 0
    assert ops.utimens("/f", (1_500_000_000_000_000_000, 1_600_000_000_000_000_000)) == 0
    attrs = ops.getattr("/f")
    assert stat.S_IMODE(attrs["st_mode"]) == 0o700
    assert (attrs["st_uid"], attrs["st_gid"]) == (5, 6)
    assert attrs["st_mtime"] == 1_600_000_000_000_000_000
    omit, now = (1 << 30) - 2, (1 << 30) - 1
    assert ops.utimens("/f", (omit, now)) == 0
    attrs = ops.getattr("/f")
    assert attrs["st_atime"] == 1_500_000_000_000_000_000
    assert attrs["st_mtime"] > 1_600_000_000_000_000_000
    assert ops.access("/f", os.R_OK) == 0
    assert ops.statfs("/")["f_bsize"] == 4096


def test_xattrs(ops: fuse.FuseOperations, backend: MemoryBackend) -> None:
    backend.put_object("/f", b"")
    assert ops.setxattr("/f", "user.hcp.annotation.x", b"<x/>", 0) == 0
    assert ops.getxattr("/f", "user.hcp.annotation.x") == b"<x/>"
    assert "user.hcp.annotation.x" in ops.listxattr("/f")
    assert ops.removexattr("/f", "user.hcp.annotation.x") == 0
    assert errno_of(ops.getxattr, "/f", "user.hcp.annotation.x") == errno.ENODATA


def test_init_with_config_tunes_the_connection(ops: fuse.FuseOperations) -> None:
    conn, config = Conn(), Config()
    ops.init_with_config(conn, config)
    assert conn.max_write == 1024 * 1024
    assert conn.max_readahead == 1024 * 1024
    assert conn.want == 0xFFFF & ~fuse.FUSE_CAP_READDIRPLUS_AUTO  # READDIRPLUS for every batch
    assert (config.attr_timeout, config.entry_timeout, config.negative_timeout) == (2, 3, 4)
    ops.init_with_config(None, None)  # libfuse 2 passes no config


def test_no_attribute_shadows_an_operation(ops: fuse.FuseOperations) -> None:
    operation_names = {name for name in dir(mfusepy.Operations) if not name.startswith("_")}
    assert not operation_names & set(vars(ops))
    assert ops.use_ns is True


def test_fuse_arguments() -> None:
    plain = fuse.fuse_arguments(Options(), foreground=True)
    assert plain == {"foreground": True, "fsname": "hcpfs", "subtype": "hcpfs", "raw_fi": True}
    shared = fuse.fuse_arguments(Options(read_only=True, allow_other=True), foreground=False)
    assert shared["ro"] and shared["allow_other"] and shared["default_permissions"]
    assert shared["foreground"] is False


def test_mount_runs_fuse_and_closes_the_filesystem_even_on_failure(
    filesystem: Filesystem, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Any, str, dict[str, Any]]] = []

    def fake_fuse(operations: Any, mountpoint: str, **kwargs: Any) -> None:
        calls.append((operations, mountpoint, kwargs))
        opened = filesystem.create("/left-open", 0o644)
        filesystem.write(opened.fh, 0, b"x")
        raise RuntimeError("mount failed")

    monkeypatch.setattr(fuse, "Binding", fake_fuse)
    with pytest.raises(RuntimeError):
        fuse.mount(filesystem, tmp_path / "mnt", filesystem.options)
    [(operations, mountpoint, kwargs)] = calls
    assert isinstance(operations, fuse.FuseOperations)
    assert mountpoint == str(tmp_path / "mnt")
    assert kwargs["raw_fi"] is True
    assert filesystem.open_handles() == 0


def test_an_open_directory_is_read_in_pieces_of_one_listing(
    ops: fuse.FuseOperations, backend: MemoryBackend
) -> None:
    """§8.2: the pieces the kernel asks for continue one listing; offset 0 starts anew."""
    backend.mkdir("/d")
    for number in range(5):
        backend.put_object(f"/d/f{number}", b"x")
    fh = ops.opendir("/d")
    first = ops.entries("/d", fh, 0)
    assert [name for name, _ in first] == [".", "..", *(f"f{n}" for n in range(5))]
    backend.put_object("/d/late", b"x")
    assert [name for name, _ in ops.entries("/d", fh, 4)] == ["f2", "f3", "f4"]
    assert ops.entries("/d", fh, 7) == []
    assert [name for name, _ in ops.entries("/d", fh, 0)][:2] == [".", ".."]  # rewinddir
    ops.releasedir("/d", fh)


class _Reads:
    """Operations whose read answers with what :attr:`answer` holds."""

    def __init__(self, answer: bytes | memoryview) -> None:
        self.answer = answer
        self.asked: list[tuple[str | None, int, int, int]] = []

    def read(self, path: str | None, size: int, offset: int, info: Any) -> bytes | memoryview:
        self.asked.append((path, size, offset, info.fh))
        return self.answer


class _CFileInfo(ctypes.Structure):
    """The one field of ``fuse_file_info`` that reads use."""

    _fields_ = (("fh", ctypes.c_uint64),)


def _binding(answer: bytes | memoryview) -> SimpleNamespace:
    return SimpleNamespace(operations=_Reads(answer), encoding="utf-8", errors="strict")


def test_the_binding_copies_a_read_view_into_the_kernel_buffer() -> None:
    """§8.6: a read answered with a view of a larger buffer arrives whole, from its start."""
    whole = b"0123456789abcdef"
    info = ctypes.pointer(_CFileInfo(fh=7))
    kernel = (ctypes.c_byte * 8)()
    buf = ctypes.cast(kernel, ctypes.POINTER(ctypes.c_byte))
    for answer in (memoryview(whole)[4:10], whole[4:10], b""):
        binding = _binding(answer)
        length = fuse.Binding.read(binding, b"/f", buf, 8, 100, info)
        assert length == len(answer)
        assert bytes(kernel)[:length] == bytes(answer)
        assert binding.operations.asked == [("/f", 8, 100, 7)]
    with pytest.raises(ValueError, match="16 bytes where 8"):
        fuse.Binding.read(_binding(whole), b"/f", buf, 8, 0, info)
