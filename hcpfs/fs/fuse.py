"""The thin mfusepy adapter: FUSE callbacks in, :class:`~hcpfs.fs.core.Filesystem` calls out.

Paths arrive from FUSE absolute, ``/``-separated, and go to the filesystem unchanged. Every
callback goes through one wrapper that turns :class:`~hcpfs.fs.errors.FsError` into its errno
(logged at DEBUG, no traceback) and anything unexpected into EIO (logged at ERROR with a
traceback, once per operation and exception type). The binding dispatches on attribute names,
so this class has no attribute named like a FUSE operation other than the operations.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

# mfusepy picks libfuse when imported; libfuse 3 delivers 1 MiB writes where 2 gives 128 KiB.
os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")

import mfusepy  # type: ignore[import-untyped]  # no type information shipped

from hcpfs.fs.core import Filesystem, OpenFile
from hcpfs.fs.errors import FsError
from hcpfs.fs.listing import DirectoryStream
from hcpfs.fs.options import Options

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MAX_WRITE = 1024 * 1024
KERNEL_READAHEAD = 1024 * 1024
# readdir's flags from libfuse 3: the kernel asks for attributes with the names (READDIRPLUS),
# and the filler's flag saying the attributes given are complete.
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2
# libfuse 3 capability: the kernel asks for READDIRPLUS only for the first batch of entries.
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
# Names every directory lists, and libfuse never looks up.
_DOTS = (".", "..")
# utimensat(2) special values in tv_nsec; with use_ns the binding passes sec * 1e9 + nsec.
_UTIME_NOW = (1 << 30) - 1
_UTIME_OMIT = (1 << 30) - 2


def _translated(
    method: Callable[Concatenate[FuseOperations, P], R],
) -> Callable[Concatenate[FuseOperations, P], R]:
    """Turn the filesystem's errors into what the binding expects, logging each kind once."""

    @functools.wraps(method)
    def wrapper(self: FuseOperations, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except FsError as error:
            log.debug("%s %s: %s", method.__name__, args[0] if args else "", error)
            raise mfusepy.FuseOSError(error.errno) from None
        except Exception as error:  # any bug must become EIO, not a crash
            self._report_unexpected(method.__name__, error)
            raise mfusepy.FuseOSError(errno.EIO) from None

    return wrapper


def _fh(info: Any) -> int | None:
    """Return the handle number from a ``fuse_file_info`` (or None when there is none)."""
    return None if info is None else int(info.fh)


class FuseOperations:
    """The operations mfusepy calls, each forwarded to a :class:`Filesystem`.

    Use with ``raw_fi=True``: open and create set ``keep_cache`` and ``direct_io`` on the file
    info.

    :param filesystem: the filesystem to serve
    """

    use_ns = True

    def __init__(self, filesystem: Filesystem) -> None:
        self._filesystem = filesystem
        self._reported: set[tuple[str, str]] = set()
        self._report_lock = threading.Lock()
        #: Set once the kernel connection is up, i.e. the mount exists.
        self.initialized = threading.Event()
        self._directories: dict[int, DirectoryStream] = {}
        self._directory_numbers = itertools.count(1)
        self._directory_lock = threading.Lock()

    def _report_unexpected(self, operation: str, error: Exception) -> None:
        key = (operation, type(error).__name__)
        with self._report_lock:
            first = key not in self._reported
            self._reported.add(key)
        if first:
            log.error("%s failed unexpectedly, answering EIO", operation, exc_info=error)
        else:
            log.error("%s failed unexpectedly again, answering EIO: %r", operation, error)

    # -- set-up and tear-down --------------------------------------------------------------

    def init_with_config(self, conn: Any, config: Any) -> None:
        """Tune the kernel connection: large writes, read-ahead, attribute timeouts."""
        options = self._filesystem.options
        if conn is not None:
            conn.max_write = MAX_WRITE
            conn.max_readahead = KERNEL_READAHEAD
            # Attributes come with every listing at no cost: have them sent for all entries,
            # so that ls -l and find need no lookups.
            conn.want &= ~FUSE_CAP_READDIRPLUS_AUTO
        if config is not None:
            config.attr_timeout = options.attr_ttl
            config.entry_timeout = options.entry_ttl
            config.negative_timeout = options.negative_ttl
        self.initialized.set()

    def destroy(self, path: str) -> None:
        """Upload what is left and stop the filesystem's threads at unmount."""
        self._filesystem.close()

    # -- the operations --------------------------------------------------------------------

    @_translated
    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        return self._filesystem.getattr(path, _fh(fh))

    @_translated
    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        return [(name, attrs, 0) for name, attrs in self._filesystem.readdir(path)]

    def opendir(self, path: str) -> int:
        with self._directory_lock:
            return next(self._directory_numbers)

    def releasedir(self, path: str, fh: int) -> int:
        with self._directory_lock:
            self._directories.pop(fh, None)
        return 0

    @_translated
    def entries(self, path: str, fh: int, offset: int) -> list[tuple[str, dict[str, int]]]:
        """Return the entries of an open directory from ``offset`` on, as far as they are read.

        The kernel reads a directory in pieces, each starting where the last one ended; every
        piece comes from the listing started when the directory was read from the start, and
        waits while that listing still arrives. Offset 0 starts a listing again
        (``rewinddir``).

        :param path: the directory
        :param fh: the number :meth:`opendir` gave
        :param offset: where the kernel continues, in entries
        :return: the entries from ``offset`` on; none at the end
        """
        with self._directory_lock:
            stream = self._directories.get(fh)
        if offset == 0 or stream is None:
            stream = self._filesystem.list_directory(path)
            with self._directory_lock:
                self._directories[fh] = stream
        return stream.take(offset)

    @_translated
    def readlink(self, path: str) -> str:
        return self._filesystem.readlink(path)

    @_translated
    def statfs(self, path: str) -> dict[str, int]:
        return self._filesystem.statfs()

    @_translated
    def access(self, path: str, amode: int) -> int:
        self._filesystem.access(path, amode)
        return 0

    @_translated
    def open(self, path: str, info: Any) -> int:
        return _opened(info, self._filesystem.open(path, info.flags))

    @_translated
    def create(self, path: str, mode: int, info: Any) -> int:
        return _opened(info, self._filesystem.create(path, mode, info.flags))

    @_translated
    def read(self, path: str, size: int, offset: int, info: Any) -> bytes | memoryview:
        return self._filesystem.read(int(info.fh), offset, size)

    @_translated
    def write(self, path: str, data: bytes, offset: int, info: Any) -> int:
        return self._filesystem.write(int(info.fh), offset, data)

    @_translated
    def flush(self, path: str, info: Any) -> int:
        self._filesystem.flush(int(info.fh))
        return 0

    @_translated
    def fsync(self, path: str, datasync: int, info: Any) -> int:
        self._filesystem.fsync(int(info.fh))
        return 0

    @_translated
    def release(self, path: str, info: Any) -> int:
        self._filesystem.release(int(info.fh))
        return 0

    @_translated
    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        self._filesystem.truncate(path, length, _fh(fh))
        return 0

    @_translated
    def unlink(self, path: str) -> int:
        self._filesystem.unlink(path)
        return 0

    @_translated
    def mkdir(self, path: str, mode: int) -> int:
        self._filesystem.mkdir(path, mode)
        return 0

    @_translated
    def rmdir(self, path: str) -> int:
        self._filesystem.rmdir(path)
        return 0

    @_translated
    def rename(self, old: str, new: str) -> int:
        self._filesystem.rename(old, new)
        return 0

    @_translated
    def symlink(self, path: str, target: str) -> int:
        self._filesystem.symlink(path, target)
        return 0

    @_translated
    def link(self, path: str, target: str) -> int:
        self._filesystem.link(path, target)
        return 0

    @_translated
    def chmod(self, path: str, mode: int) -> int:
        self._filesystem.chmod(path, mode)
        return 0

    @_translated
    def chown(self, path: str, uid: int, gid: int) -> int:
        self._filesystem.chown(path, uid, gid)
        return 0

    @_translated
    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        now = time.time_ns()
        atime, mtime = times if times is not None else (now, now)
        self._filesystem.utimens(path, _utime(atime, now), _utime(mtime, now))
        return 0

    @_translated
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        return self._filesystem.getxattr(path, name)

    @_translated
    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        self._filesystem.setxattr(path, name, value, options)
        return 0

    @_translated
    def listxattr(self, path: str) -> list[str]:
        return self._filesystem.listxattr(path)

    @_translated
    def removexattr(self, path: str, name: str) -> int:
        self._filesystem.removexattr(path, name)
        return 0


class Binding(mfusepy.FUSE):  # type: ignore[misc]  # mfusepy has no type information
    """mfusepy's binding, answering READDIRPLUS with the attributes readdir has anyway, and
    taking reads given as views.

    The kernel then knows every entry's attributes from the listing, so ``ls -l`` and
    ``find`` send no lookup per entry (mfusepy itself passes only the mode). Needs the
    operations' :meth:`FuseOperations.entries`. A read answered with a view of a larger
    buffer is copied straight into the kernel's buffer, where mfusepy takes bytes only.
    """

    def read(  # libfuse's callback, called positionally
        self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any
    ) -> int:
        """Copy what the operations read into the kernel's buffer: once, also from a view."""
        decoded = None if path is None else path.decode(self.encoding, self.errors)
        data = self.operations.read(decoded, size, offset, fip.contents)
        length = len(data)
        if length > size:
            raise ValueError(f"read {length} bytes where {size} were asked for")
        if isinstance(data, memoryview):
            target = (ctypes.c_char * length).from_address(ctypes.addressof(buf.contents))
            memoryview(target).cast("B")[:] = data
        elif length:
            ctypes.memmove(buf, data, length)
        return length

    def readdir_fuse_3(  # noqa: PLR0917  # libfuse's callback, called positionally
        self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int
    ) -> int:
        """Fill one piece of a directory listing, with attributes when the kernel asks.

        Entries go with their offsets: libfuse keeps the attributes of READDIRPLUS only for
        listings given in pieces (with offset 0 it keeps the names and modes alone). ``.`` and
        ``..`` go without: libfuse looks neither up, so with attributes they would reach the
        kernel with inode number 0, which the C library's readdir skips.
        """
        decoded = "" if path is None else path.decode(self.encoding, self.errors)
        batch = self.operations.entries(decoded, fip.contents.fh, offset)
        plus = FUSE_FILL_DIR_PLUS if flags & FUSE_READDIR_PLUS else 0
        for number, (name, attrs) in enumerate(batch, start=offset + 1):
            stat = mfusepy.c_stat()
            mfusepy.set_st_attrs(stat, attrs, use_ns=self.use_ns)
            encoded = name.encode(self.encoding, self.errors)
            given = plus if attrs and name not in _DOTS else 0
            if filler(buf, encoded, stat, number, given) != 0:
                break
        return 0


def _opened(info: Any, opened: OpenFile) -> int:
    info.fh = opened.fh
    info.keep_cache = int(opened.keep_cache)
    info.direct_io = int(opened.direct)
    return 0


def _utime(value: int, now: int) -> int | None:
    # libfuse passes the special values with tv_sec 0, so they arrive unchanged.
    if value == _UTIME_NOW:
        return now
    if value == _UTIME_OMIT:
        return None
    return value


def fuse_arguments(options: Options, foreground: bool, fsname: str = "hcpfs") -> dict[str, Any]:
    """Return the keyword arguments for ``mfusepy.FUSE`` that ``options`` ask for.

    :param options: the mount options
    :param foreground: stay in the foreground instead of letting libfuse fork
    :param fsname: what ``mount`` and ``df`` show as the mount's source
    """
    arguments: dict[str, Any] = {
        "foreground": foreground,
        "fsname": fsname,
        "subtype": "hcpfs",
        "raw_fi": True,
    }
    if options.read_only:
        arguments["ro"] = True
    if options.allow_other:
        # Other users must not bypass modes: let the kernel check them.
        arguments["allow_other"] = True
        arguments["default_permissions"] = True
    return arguments


def mount(
    filesystem: Filesystem,
    mountpoint: str | os.PathLike[str],
    options: Options,
    foreground: bool = True,
    fsname: str = "hcpfs",
) -> None:
    """Serve ``filesystem`` at ``mountpoint`` until it is unmounted; then close it.

    With ``foreground=False`` libfuse forks into the background; the filesystem starts its
    threads only when first needed, so it survives the fork.

    :param filesystem: what to serve
    :param mountpoint: an existing empty directory
    :param options: the mount options (the same the filesystem was made with)
    :param foreground: whether to stay in the foreground
    :param fsname: what ``mount`` and ``df`` show as the mount's source, e.g. the namespace
    :raises RuntimeError: when libfuse fails to mount
    """
    operations = FuseOperations(filesystem)
    arguments = fuse_arguments(options, foreground, fsname)
    try:
        Binding(operations, os.fspath(mountpoint), **arguments)
    except RuntimeError as error:
        if not operations.initialized.is_set():
            raise
        # libfuse reports the end of a mount by SIGTERM or SIGINT as a failure (status 8).
        log.info("libfuse ended the mount with status %s (a signal)", error)
    finally:
        filesystem.close()
