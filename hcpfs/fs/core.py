"""The filesystem: POSIX operations on paths and handles, mapped onto HCP requests.

Every public method implements one operation of docs/SEMANTICS.md §8 and raises only
:class:`~hcpfs.fs.errors.FsError`. The FUSE adapter (:mod:`hcpfs.fs.fuse`) only translates.

Locking: ``_lock`` guards the tables of handles and nodes and is held only briefly; each node
has its own lock, held across the requests that change that node. A node lock is never taken
while ``_lock`` is held.
"""

from __future__ import annotations

import errno
import itertools
import logging
import operator
import os
import posixpath
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from hcpfs.fs import xattrs
from hcpfs.fs.backend import (
    SYMLINK_ANNOTATION,
    Backend,
    BackendConnectionError,
    BackendError,
    DirInfo,
    Entry,
    IntegrityError,
    Listing,
    NamespaceInfo,
    ObjectInfo,
    ObjectSettings,
    Statistics,
    SymlinkInfo,
    check_hash,
)
from hcpfs.fs.cache import (
    Absent,
    LocalAttributeStore,
    MetadataCache,
    SeenVersions,
    parent_of,
)
from hcpfs.fs.errors import FsError, Request, to_fs_error
from hcpfs.fs.listing import DirectoryStream, Item
from hcpfs.fs.options import Options, Overwrite
from hcpfs.fs.prefetch import Prefetcher
from hcpfs.fs.reader import ObjectReader, ReadAhead
from hcpfs.fs.staging import Leftover, StagedFile, StagingArea
from hcpfs.fs.upload import STREAM_AFTER, StreamedUpload, Streams

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_OBJECT_SIZE = 2 * 10**12
"""HCP refuses objects larger than 2 TB (413); refuse earlier, with EFBIG."""
MAX_NAME = 255
MAX_PATH = 4095
BLOCK_SIZE = 4096
IO_SIZE = 1024 * 1024
RELIST_MOST = 1000
"""A lookup in a directory listed lately with at most this many entries lists it (§8.1)..."""
RELIST_WITHIN = 10
"""... when that listing is younger than this many listing TTLs."""
LISTING_THREADS = 4
"""Listings read into directory streams at once; more wait for a thread (§8.2)."""
_BACKEND_ERRORS = (BackendError, BackendConnectionError, IntegrityError)
_CUT_OFF_TRIES = 20
_CUT_OFF_PAUSE = 0.1


@dataclass(frozen=True)
class OpenFile:
    """What open and create return: the handle number and how the kernel may cache its data.

    ``keep_cache``: the kernel's page cache of the file stays valid. ``direct``: the kernel
    hands the handle's writes to hcpfs as they are, without copying them into its page cache
    first (§8.7).
    """

    fh: int
    keep_cache: bool = False
    direct: bool = False


class _Node:
    """One path open for writing on this mount, with its staged data.

    ``remote`` is true while HCP holds an object at the path that an upload must replace.
    """

    def __init__(self, path: str, base: ObjectInfo | None, created: float) -> None:
        self.path = path
        self.base = base
        self.remote = base is not None
        self.staged: StagedFile | None = None
        #: The upload that streams a new file's data while it is written, if one does.
        self.stream: StreamedUpload | None = None
        self.streamable = True
        #: Whether a streamed upload of the file was cut off or failed (HCP may lag behind).
        self.cut_off = False
        self.dirty = False
        self.failed = False
        self.unlinked = False
        self.handles = 0
        self.created = created
        self.settings = ObjectSettings()
        self.annotations: dict[str, bytes] = {}
        self.lock = threading.RLock()

    def info(self) -> ObjectInfo:
        """Describe the file as this mount sees it now."""
        size = self.staged.size if self.staged else (self.base.size if self.base else 0)
        if self.base is not None:
            return replace(self.base, path=self.path, size=size)
        return ObjectInfo(self.path, size, ingest_time=self.created, change_time=self.created)


@dataclass
class _Handle:
    fh: int
    path: str
    node: _Node | None = None
    reader: ObjectReader | None = None


class Filesystem:
    """A mounted namespace, as operations on paths and handles.

    :param backend: the requests to HCP
    :param options: the mount options
    :param clock: wall-clock time in seconds, for retention and new files
    :param timer: monotonic time in seconds, for caches
    :raises FsError: when the namespace cannot be asked for its settings
    """

    def __init__(
        self,
        backend: Backend,
        options: Options,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._backend = backend
        self._clock = clock
        self._timer = timer
        self.namespace: NamespaceInfo = self._call(
            Request.NAMESPACE_INFO, "/", backend.namespace_info
        )
        self._staging = StagingArea(options.staging_dir)
        self.leftovers: list[Leftover] = self._staging.report_leftovers()
        self._cache = MetadataCache(
            attr_ttl=options.attr_ttl,
            negative_ttl=options.negative_ttl,
            listing_ttl=options.listing_ttl,
            max_entries=options.cache_entries,
            max_listing_entries=options.listing_cache_entries,
            timer=timer,
        )
        self._local = LocalAttributeStore(options.cache_entries)
        self._seen = SeenVersions(options.cache_entries)
        self._readahead = ReadAhead(
            options.readahead_min, options.readahead_max, options.read_part_size
        )
        self._pool = ThreadPoolExecutor(options.read_threads, thread_name_prefix="hcpfs-read")
        self._listers = ThreadPoolExecutor(LISTING_THREADS, thread_name_prefix="hcpfs-list")
        self._prefetch = Prefetcher(backend, options.prefetch_files, self._cache.listing, timer)
        self._streams = Streams(backend)
        self._lock = threading.Lock()
        self._handles: dict[int, _Handle] = {}
        self._nodes: dict[str, _Node] = {}
        self._numbers = itertools.count(1)
        self._statistics: tuple[float, Statistics] | None = None
        self._root = DirInfo("/", clock())

    # -- attributes and directories (§8.1-§8.4) ----------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        """Return the ``stat`` fields of ``path`` (§4, §8.1).

        :param path: the path
        :param fh: an open handle of the path, if the kernel gave one
        """
        handle = self._handles.get(fh) if fh is not None else None
        if handle is not None and handle.node is not None:
            return self._attributes(handle.node.info())
        return self._attributes(self._require(path))

    def readdir(self, path: str) -> list[Item]:
        """Return the entries of a directory with their attributes, ``.`` and ``..`` first,
        the others by name (§8.2).

        :param path: the directory
        """
        items = self.list_directory(path).complete()
        return items[:2] + sorted(items[2:], key=operator.itemgetter(0))

    def list_directory(self, path: str) -> DirectoryStream:
        """Start reading the entries of a directory, with their attributes (§8.2).

        ``.`` and ``..`` come first, then the listing's entries in its order, then files
        created here and not uploaded yet. When the directory is known and its listing is not
        cached, the listing is read on a listing thread and its entries join the stream as
        they are parsed; otherwise the stream is complete when returned. When nothing is known
        about ``path`` yet, its listing is asked for first: a listing also tells that the
        directory exists, so no HEAD is needed. Only when the listing fails with "not found"
        does a HEAD tell a missing path from one that is no directory.

        :param path: the directory
        :raises FsError: ``ENOENT``, ``ENOTDIR``, or the listing's failure when it is read now;
            a listing read on a listing thread hands its failure to the stream's reader
        """
        self._check_path(path)
        stream = DirectoryStream()
        known = path == "/" or self._node(path) is not None or self._cache.lookup(path) is not None
        if known and self._cache.listing(path) is None:
            stream.add(self._dots(self._require(path)))
            self._listers.submit(self._list_into, path, stream)
            return stream
        entries: tuple[Entry, ...] | None = None
        if not known:
            try:
                entries = self._listing(path)
            except FsError as error:
                if error.errno != errno.ENOENT:
                    raise
        stream.add(self._dots(self._require(path)))
        if entries is None:
            entries = self._listing(path)
        seen: set[str] = set()
        stream.add(self._listed_items(entries, seen))
        stream.add(self._pending_items(path, seen))
        stream.end()
        return stream

    def statfs(self) -> dict[str, int]:
        """Return ``statvfs`` fields from HCP's statistics (§8.3)."""
        stats = self._statistics_now()
        total = stats.total_capacity_bytes if stats else 0
        used = stats.used_capacity_bytes if stats else 0
        free_blocks = max(0, total - used) // BLOCK_SIZE
        objects = stats.object_count if stats else 0
        return {
            "f_bsize": BLOCK_SIZE,
            "f_frsize": BLOCK_SIZE,
            "f_blocks": total // BLOCK_SIZE,
            "f_bfree": free_blocks,
            "f_bavail": free_blocks,
            "f_files": objects + free_blocks,
            "f_ffree": free_blocks,
            "f_favail": free_blocks,
            "f_namemax": MAX_NAME,
        }

    def access(self, path: str, mode: int) -> None:
        """Check ``access(2)`` for ``path`` (§8.4).

        :param path: the path
        :param mode: ``os.F_OK`` or a combination of ``R_OK``, ``W_OK``, ``X_OK``
        """
        entry = self._require(path)
        if mode & os.W_OK:
            self._check_writable_mount(path)
            if isinstance(entry, ObjectInfo) and entry.protected(self._clock()):
                raise FsError(errno.EACCES, "under retention or on hold", path)
        if mode & os.X_OK and not self._attributes(entry)["st_mode"] & 0o111:
            raise FsError(errno.EACCES, "not executable", path)

    # -- opening, reading, writing (§8.5-§8.9) ------------------------------------------------

    def open(self, path: str, flags: int) -> OpenFile:
        """Open an existing file (§8.5).

        :param path: the path
        :param flags: the ``open(2)`` flags
        """
        entry = self._require(path)
        if isinstance(entry, DirInfo):
            raise FsError(errno.EISDIR, "is a directory", path)
        if isinstance(entry, SymlinkInfo):
            raise FsError(errno.ELOOP, "is a symbolic link", path)
        if not _writes(flags):
            return self._open_reader(path, entry)
        self._check_writable(path, entry)
        node = self._attach(path, entry)
        if flags & os.O_TRUNC:
            self._change(node, lambda staged: staged.truncate(0), limit=0)
        return OpenFile(self._add_handle(path, node), direct=_writes_new_data(flags))

    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> OpenFile:
        """Create a file and open it for writing; nothing is sent before the upload (§8.7).

        :param path: the path
        :param mode: the mode asked for, remembered like a chmod
        :param flags: the ``open(2)`` flags
        """
        self._check_path(path)
        self._check_writable_mount(path)
        with self._lock:
            node = self._nodes.get(path)
        if node is not None:
            return self.open(path, flags | os.O_WRONLY)
        # The kernel looked the parent up just before, so this is normally a cache hit.
        self._require_directory(parent_of(path))
        node = self._attach(path, None)
        with node.lock:
            if node.staged is None:
                node.staged = self._new_staged(path)
            node.dirty = True
        self._remember_mode(path, mode, 0o666)
        self._cache.forget(path)
        return OpenFile(self._add_handle(path, node), direct=_writes_new_data(flags | os.O_TRUNC))

    def read(self, fh: int, offset: int, size: int) -> bytes | memoryview:
        """Return up to ``size`` bytes from ``offset`` (§8.6), as bytes or a view of them.

        :param fh: the handle
        :param offset: where to start
        :param size: how many bytes at most
        """
        handle = self._handle(fh)
        node = handle.node or self._node(handle.path)
        if node is not None:
            with node.lock:
                if node.staged is not None:
                    return self._local_io(handle.path, node.staged.read, offset, size)
        reader = handle.reader or self._reader_for(handle, node)
        return self._call(Request.READ, handle.path, reader.read, offset, size)

    def write(self, fh: int, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` into the staged copy (§8.7).

        :param fh: the handle
        :param offset: where
        :param data: what
        """
        handle = self._handle(fh)
        if handle.node is None:
            raise FsError(errno.EBADF, "not open for writing", handle.path)
        if offset + len(data) > MAX_OBJECT_SIZE:
            raise FsError(errno.EFBIG, "larger than HCP's object limit", handle.path)
        node = handle.node
        return self._change(node, lambda staged: staged.write(offset, data), write=(offset, data))

    def flush(self, fh: int) -> None:
        """Upload when the last handle of a file is closed (§8.8).

        :param fh: the handle being closed
        """
        node = self._handle(fh).node
        if node is not None and node.handles == 1:
            self._store(node)

    def fsync(self, fh: int) -> None:
        """Upload now if data changed (§8.8).

        :param fh: the handle
        """
        node = self._handle(fh).node
        if node is not None:
            self._store(node)

    def release(self, fh: int) -> None:
        """Forget a handle; at the last one of a file, upload what is left and clean up (§8.8).

        :param fh: the handle
        """
        with self._lock:
            handle = self._handles.pop(fh, None)
            node = handle.node if handle else None
            last = False
            if node is not None:
                node.handles -= 1
                last = node.handles == 0
                if last and self._nodes.get(node.path) is node:
                    del self._nodes[node.path]
        if handle is not None and handle.reader is not None:
            handle.reader.close()
        if node is not None and last:
            self._finish(node)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        """Change the size of a file (§8.9).

        :param path: the path
        :param length: the new size
        :param fh: an open handle of the path, if the kernel gave one
        """
        if length < 0:
            raise FsError(errno.EINVAL, "negative length", path)
        if length > MAX_OBJECT_SIZE:
            raise FsError(errno.EFBIG, "larger than HCP's object limit", path)
        handle = self._handles.get(fh) if fh is not None else None
        node = handle.node if handle is not None else self._node(path)
        if node is not None:
            self._check_writable_mount(path)
            self._change(node, lambda staged: staged.truncate(length), limit=length)
            return
        entry = self._require(path)
        if not isinstance(entry, ObjectInfo):
            raise FsError(
                errno.EISDIR if isinstance(entry, DirInfo) else errno.EINVAL, "not a file", path
            )
        if entry.size == length:
            return
        self._check_writable(path, entry)
        fh_temporary = self._add_handle(path, self._attach(path, entry))
        try:
            node = self._handle(fh_temporary).node
            assert node is not None
            self._change(node, lambda staged: staged.truncate(length), limit=length)
            self._store(node)
        finally:
            self.release(fh_temporary)

    # -- names (§8.10-§8.14) ------------------------------------------------------------------

    def unlink(self, path: str) -> None:
        """Delete a file or symbolic link (§8.10).

        :param path: the path
        """
        self._check_writable_mount(path)
        node = self._node(path)
        if node is not None and not node.remote:
            self._drop_node(node)
            self._forget(path)
        else:
            entry = self._require(path)
            if isinstance(entry, DirInfo):
                raise FsError(errno.EISDIR, "is a directory", path)
            if isinstance(entry, ObjectInfo) and entry.protected(self._clock()):
                raise FsError(errno.EPERM, "under retention or on hold", path)
            self._delete(path)
            if node is not None:
                self._drop_node(node)
        self._local.forget(path)

    def mkdir(self, path: str, mode: int) -> None:
        """Create a directory (§8.11).

        :param path: the path
        :param mode: the mode asked for, remembered like a chmod
        """
        self._check_path(path)
        self._check_writable_mount(path)
        if self._find(path) is not None:
            raise FsError(errno.EEXIST, "exists", path)
        self._require_directory(parent_of(path))
        self._call(Request.MKDIR, path, self._backend.mkdir, path)
        self._cache.put(DirInfo(path, self._clock()))
        # Just made, so empty: lookups of the names about to be created in it need no request.
        self._cache.put_listing(path, [])
        self._remember_mode(path, mode, 0o777)

    def rmdir(self, path: str) -> None:
        """Delete an empty directory (§8.11).

        :param path: the path
        """
        self._check_writable_mount(path)
        if path == "/":
            raise FsError(errno.EBUSY, "the root of the mount", path)
        if not isinstance(self._require(path), DirInfo):
            raise FsError(errno.ENOTDIR, "not a directory", path)
        if self._has_pending_below(path):
            raise FsError(errno.ENOTEMPTY, "holds files not uploaded yet", path)
        try:
            self._backend.rmdir(path)
        except BackendError as error:
            if error.status != 403:
                raise to_fs_error(error, Request.RMDIR, path) from error
            # HCP says 403 for "not empty" and for "not allowed": a listing tells which.
            if self._call(Request.LISTDIR, path, self._backend.listdir, path):
                raise FsError(errno.ENOTEMPTY, "not empty", path) from error
            raise to_fs_error(error, Request.STAT, path) from error
        except (BackendConnectionError, IntegrityError) as error:
            raise to_fs_error(error, Request.RMDIR, path) from error
        self._forget(path)
        self._local.forget(path)

    def rename(self, old: str, new: str) -> None:
        """Rename a file, a symbolic link or an empty directory (§8.12).

        :param old: the current path
        :param new: the new path
        """
        self._check_path(new)
        self._check_writable_mount(old)
        source = self._require(old)
        if old == new:
            return
        if new.startswith(old + "/"):
            raise FsError(errno.EINVAL, "cannot move a directory into itself", new)
        self._require_directory(parent_of(new))
        target = self._find(new)
        if isinstance(source, DirInfo):
            self._rename_directory(old, new, target)
        elif isinstance(target, DirInfo):
            raise FsError(errno.EISDIR, "target is a directory", new)
        elif self._node(new) is not None:
            raise FsError(errno.EBUSY, "target is open for writing", new)
        elif isinstance(source, SymlinkInfo):
            self._rename_symlink(old, new, source, target)
        else:
            self._rename_file(old, new, source, target)
        self._local.move(old, new)

    def symlink(self, path: str, target: str) -> None:
        """Create a symbolic link (§8.14).

        :param path: the link
        :param target: what it points to
        """
        self._check_path(path)
        self._check_writable_mount(path)
        if self._find(path) is not None:
            raise FsError(errno.EEXIST, "exists", path)
        self._call(Request.SYMLINK, path, self._backend.symlink, path, target)
        size = len(target.encode("utf-8", "surrogateescape"))
        self._cache.put(SymlinkInfo(path, target, size, self._clock()))

    def readlink(self, path: str) -> str:
        """Return the target of a symbolic link (§8.14).

        :param path: the link
        """
        entry = self._require(path)
        if not isinstance(entry, SymlinkInfo):
            raise FsError(errno.EINVAL, "not a symbolic link", path)
        if entry.target is not None:
            return entry.target
        if entry.size == 0:
            return ""
        data = self._call(Request.READ, path, self._backend.read, path, 0, entry.size)
        return data.decode("utf-8", "surrogateescape")

    def link(self, path: str, target: str) -> None:
        """Refuse hard links, which HCP does not have (§8.13).

        :param path: the new name
        :param target: the existing file
        """
        raise FsError(errno.EPERM, "HCP has no hard links", path)

    # -- POSIX metadata kept in memory (§8.15) -------------------------------------------------

    def chmod(self, path: str, mode: int) -> None:
        """Remember a new mode for the life of the mount (§8.15).

        :param path: the path
        :param mode: the mode bits
        """
        self._check_writable_mount(path)
        self._require(path)
        self._local.update(path, mode=stat.S_IMODE(mode))

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Remember a new owner for the life of the mount (§8.15).

        :param path: the path
        :param uid: the new user id, -1 to keep it
        :param gid: the new group id, -1 to keep it
        """
        self._check_writable_mount(path)
        self._require(path)
        self._local.update(path, uid=None if uid < 0 else uid, gid=None if gid < 0 else gid)

    def utimens(self, path: str, atime_ns: int | None, mtime_ns: int | None) -> None:
        """Remember new access and modification times for the life of the mount (§8.15).

        :param path: the path
        :param atime_ns: access time in nanoseconds since the epoch, None to keep it
        :param mtime_ns: modification time in nanoseconds since the epoch, None to keep it
        """
        self._check_writable_mount(path)
        self._require(path)
        self._local.update(path, atime_ns=atime_ns, mtime_ns=mtime_ns)

    # -- extended attributes (§8.16) -----------------------------------------------------------

    def getxattr(self, path: str, name: str) -> bytes:
        """Return the value of an extended attribute (§8.16).

        :param path: the path
        :param name: the attribute name
        """
        if not name.startswith("user."):
            # Programs such as ls ask for security.* and system.* names on every file; ENOTSUP
            # tells them once that this filesystem has none, ENODATA would make them ask again.
            raise FsError(errno.ENOTSUP, "only user.* attributes exist here", path)
        parsed = xattrs.parse_name(name) if name.startswith(xattrs.PREFIX) else None
        if parsed is None:
            raise FsError(errno.ENODATA, "no such attribute", path)
        node = self._writing_node(path)
        if node is not None:
            pending = self._pending_xattr(node, parsed)
            if pending is not None:
                return pending
            if not node.remote:
                raise FsError(errno.ENODATA, "no such attribute yet", path)
        info = self._require_object(path, errno.ENODATA)
        if parsed.kind is not xattrs.Kind.ANNOTATION:
            value = xattrs.value_of(info, parsed.kind)
        elif parsed.annotation not in info.annotations:
            value = None
        else:
            value = self._call(
                Request.GET_ANNOTATION,
                path,
                self._backend.get_annotation,
                path,
                parsed.annotation,
            )
        if value is None:
            raise FsError(errno.ENODATA, "no such attribute", path)
        return value

    def setxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        """Set an HCP setting or annotation through an extended attribute (§8.16).

        :param path: the path
        :param name: the attribute name
        :param value: the value
        :param flags: ``XATTR_CREATE`` or ``XATTR_REPLACE``, or 0
        """
        self._check_writable_mount(path)
        parsed = xattrs.parse_name(name)
        if parsed is None:
            raise FsError(errno.ENOTSUP, "only user.hcp.* attributes can be set", path)
        node = self._writing_node(path)
        if parsed.kind is xattrs.Kind.HASH:
            self._accept_hash(path, node, value)
        elif node is not None:
            self._set_pending_xattr(node, parsed, value, flags)
        else:
            self._set_xattr(self._require_object(path, errno.ENOTSUP), parsed, value, flags)

    def listxattr(self, path: str) -> list[str]:
        """Return the names of the extended attributes of ``path`` (§8.16).

        :param path: the path
        """
        node = self._writing_node(path)
        pending = [xattrs.ANNOTATION_PREFIX + n for n in node.annotations] if node else []
        if node is not None and not node.remote:
            return pending
        entry = self._require(path)
        names = xattrs.names_of(entry) if isinstance(entry, ObjectInfo) else []
        return names + [name for name in pending if name not in names]

    def removexattr(self, path: str, name: str) -> None:
        """Delete an annotation through its extended attribute (§8.16).

        :param path: the path
        :param name: the attribute name
        """
        self._check_writable_mount(path)
        parsed = xattrs.parse_name(name) if name.startswith(xattrs.PREFIX) else None
        if parsed is None:
            raise FsError(errno.ENODATA, "no such attribute", path)
        if parsed.kind is not xattrs.Kind.ANNOTATION:
            raise FsError(errno.EPERM, "HCP settings cannot be removed, only changed", path)
        node = self._writing_node(path)
        if node is not None:
            with node.lock:
                removed_pending = node.annotations.pop(parsed.annotation, None) is not None
            if removed_pending:
                return
            if not node.remote:
                raise FsError(errno.ENODATA, "no such attribute", path)
        self._require_object(path, errno.ENODATA)
        removed = self._call(
            Request.DELETE_ANNOTATION,
            path,
            self._backend.delete_annotation,
            path,
            parsed.annotation,
        )
        self._cache.invalidate(path)
        if not removed:
            raise FsError(errno.ENODATA, "no such attribute", path)

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release every open handle (uploading what is left), stop the read threads and delete
        the spare staging files."""
        with self._lock:
            numbers = list(self._handles)
        for fh in numbers:
            try:
                self.release(fh)
            except FsError as error:
                log.warning("closing handle %d at unmount: %s", fh, error)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._listers.shutdown(wait=True, cancel_futures=True)
        self._prefetch.close()
        self._staging.close()

    def open_handles(self) -> int:
        """Return how many handles are open (for tests and statistics)."""
        with self._lock:
            return len(self._handles)

    # -- lookups -------------------------------------------------------------------------------

    def _find(self, path: str) -> Entry | None:
        """Return what ``path`` is as this mount sees it, or None when it does not exist."""
        node = self._node(path)
        if node is not None:
            return node.info()
        if path == "/":
            return self._root
        cached = self._cached_or_listed(path)
        if isinstance(cached, Absent):
            return None
        if cached is not None:
            return cached
        try:
            entry = self._backend.stat(path)
        except BackendError as error:
            if error.status != 404:
                raise to_fs_error(error, Request.STAT, path) from error
            self._cache.put_absent(path)
            return None
        except (BackendConnectionError, IntegrityError) as error:
            raise to_fs_error(error, Request.STAT, path) from error
        self._cache.put(entry)
        return entry

    def _cached_or_listed(self, path: str) -> Entry | Absent | None:
        """Answer from the caches; for a small directory listed lately, list it again first.

        One listing of such a directory answers this lookup and the ones that follow (a
        program copying a tree looks up every name before creating it), where a HEAD would
        answer one.
        """
        cached = self._cache.lookup(path)
        parent = parent_of(path)
        if cached is not None or not self._cache.listed_recently(
            parent, RELIST_WITHIN * self.options.listing_ttl, RELIST_MOST
        ):
            return cached
        try:
            self._listing(parent)
        except FsError as error:
            log.debug("listing %s again failed, asking for %s alone: %s", parent, path, error)
            return None
        return self._cache.lookup(path)

    def _require(self, path: str) -> Entry:
        self._check_path(path)
        entry = self._find(path)
        if entry is None:
            raise FsError(errno.ENOENT, "no such file or directory", path)
        return entry

    def _require_directory(self, path: str) -> DirInfo:
        entry = self._require(path)
        if not isinstance(entry, DirInfo):
            raise FsError(errno.ENOTDIR, "not a directory", path)
        return entry

    def _require_object(self, path: str, other: int) -> ObjectInfo:
        entry = self._require(path)
        if not isinstance(entry, ObjectInfo):
            raise FsError(other, "only files have HCP attributes", path)
        return entry

    def _listing(
        self, path: str, progress: Callable[[Sequence[Entry]], None] | None = None
    ) -> tuple[Entry, ...]:
        """Return the entries of a directory, cached or from one listing request.

        A backend's listing may also describe the directory itself (a :class:`Listing`, as
        HCP's listing headers do); that is remembered like a HEAD's answer.

        :param progress: given the entries in batches as they arrive, or all at once if cached
        """
        cached = self._cache.listing(path)
        if cached is not None:
            if progress is not None:
                progress(cached)
            return cached
        entries = self._call(Request.LISTDIR, path, self._backend.listdir, path, progress)
        kept = tuple(entries)
        self._cache.put_listing(path, kept)
        if isinstance(entries, Listing) and path != "/" and entries.directory.path == path:
            self._cache.put(entries.directory)
        return kept

    def _list_into(self, path: str, stream: DirectoryStream) -> None:
        """Read the listing of ``path`` into ``stream`` as it arrives (on a listing thread)."""
        seen: set[str] = set()
        try:
            self._listing(path, lambda batch: stream.add(self._listed_items(batch, seen)))
            stream.add(self._pending_items(path, seen))
        except FsError as error:
            stream.end(error)
        except Exception as error:  # the reader must get an answer, whatever went wrong
            log.error("listing %s failed unexpectedly", path, exc_info=error)
            stream.end(FsError(errno.EIO, "listing failed", path))
        else:
            stream.end()

    def _dots(self, directory: Entry) -> list[Item]:
        if not isinstance(directory, DirInfo):
            raise FsError(errno.ENOTDIR, "not a directory", directory.path)
        return [(".", self._attributes(directory)), ("..", {})]

    def _listed_items(self, entries: Iterable[Entry], seen: set[str]) -> list[Item]:
        """The entries of a listing that Linux can show, with their attributes."""
        items = []
        for entry in entries:
            name = entry.name
            if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
                log.debug("leaving out %s: its name is longer than %d bytes", entry.path, MAX_NAME)
                continue
            seen.add(name)
            items.append((name, self._attributes(entry)))
        return items

    def _pending_items(self, directory: str, seen: set[str]) -> list[Item]:
        """Files created in ``directory`` on this mount, not uploaded yet and not listed."""
        items = []
        for node in self._pending_nodes(directory):
            name = posixpath.basename(node.path)
            if name not in seen:
                seen.add(name)
                items.append((name, self._attributes(node.info())))
        return items

    def _node(self, path: str) -> _Node | None:
        with self._lock:
            return self._nodes.get(path)

    def _pending_nodes(self, directory: str) -> list[_Node]:
        with self._lock:
            return [
                node
                for node in self._nodes.values()
                if not node.remote and parent_of(node.path) == directory
            ]

    def _has_pending_below(self, directory: str) -> bool:
        prefix = directory.rstrip("/") + "/"
        with self._lock:
            return any(path.startswith(prefix) for path in self._nodes)

    def _handle(self, fh: int) -> _Handle:
        with self._lock:
            handle = self._handles.get(fh)
        if handle is None:
            raise FsError(errno.EBADF, f"no open handle {fh}")
        return handle

    def _attributes(self, entry: Entry) -> dict[str, int]:
        perm, kind, size, nlink = self._shape(entry)
        ctime = int(entry.change_time * 1e9)
        mtime = int(entry.ingest_time * 1e9) if isinstance(entry, ObjectInfo) else ctime
        local = self._local.get(entry.path)
        if local is not None and local.mode is not None:
            perm = local.mode
        if isinstance(entry, ObjectInfo) and entry.protected(self._clock()):
            perm &= ~0o222
        atime = mtime
        if local is not None:
            mtime = local.mtime_ns if local.mtime_ns is not None else mtime
            atime = local.atime_ns if local.atime_ns is not None else mtime
        return {
            "st_mode": kind | perm,
            "st_nlink": nlink,
            "st_size": size,
            "st_uid": local.uid if local and local.uid is not None else self.options.uid,
            "st_gid": local.gid if local and local.gid is not None else self.options.gid,
            "st_atime": atime,
            "st_mtime": mtime,
            "st_ctime": ctime,
            "st_blocks": (size + 511) // 512,
            "st_blksize": IO_SIZE,
        }

    def _shape(self, entry: Entry) -> tuple[int, int, int, int]:
        umask = self.options.umask
        if isinstance(entry, DirInfo):
            return 0o777 & ~umask, stat.S_IFDIR, 0, 2
        if isinstance(entry, SymlinkInfo):
            return 0o777, stat.S_IFLNK, entry.size, 1
        return 0o666 & ~umask, stat.S_IFREG, entry.size, 1

    def _remember_mode(self, path: str, mode: int, default: int) -> None:
        perm = stat.S_IMODE(mode)
        if perm != default & ~self.options.umask:
            self._local.update(path, mode=perm)

    def _statistics_now(self) -> Statistics | None:
        now = self._timer()
        cached = self._statistics
        if cached is not None and now - cached[0] < self.options.statfs_ttl:
            return cached[1]
        try:
            stats = self._backend.statistics()
        except _BACKEND_ERRORS as error:
            log.debug("statistics unavailable, using the last answer: %s", error)
            return cached[1] if cached else None
        self._statistics = (now, stats)
        return stats

    # -- checks --------------------------------------------------------------------------------

    def _check_path(self, path: str) -> None:
        if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
            raise FsError(errno.ENAMETOOLONG, "path longer than HCP allows", path)
        name = posixpath.basename(path)
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise FsError(errno.ENAMETOOLONG, "name longer than 255 bytes", path)

    def _check_writable_mount(self, path: str) -> None:
        if self.options.read_only:
            raise FsError(errno.EROFS, "read-only mount", path)

    def _check_writable(self, path: str, entry: Entry) -> None:
        """Refuse early what an upload over ``entry`` would be refused (§8.5)."""
        self._check_writable_mount(path)
        node = self._node(path)
        if not isinstance(entry, ObjectInfo) or (node is not None and not node.remote):
            return
        if self.options.overwrite is Overwrite.REFUSE:
            raise FsError(errno.EPERM, "file exists and overwrite=refuse", path)
        if entry.protected(self._clock()):
            raise FsError(errno.EPERM, "under retention or on hold", path)

    # -- handles and nodes ---------------------------------------------------------------------

    def _add_handle(
        self, path: str, node: _Node | None, reader: ObjectReader | None = None
    ) -> int:
        with self._lock:
            fh = next(self._numbers)
            self._handles[fh] = _Handle(fh, path, node, reader)
        return fh

    def _attach(self, path: str, entry: Entry | None) -> _Node:
        """Return the node of ``path``, created if needed, with one more handle counted."""
        base = entry if isinstance(entry, ObjectInfo) else None
        with self._lock:
            node = self._nodes.get(path)
            if node is None:
                node = _Node(path, base, self._clock())
                self._nodes[path] = node
            node.handles += 1
        return node

    def _open_reader(self, path: str, entry: Entry) -> OpenFile:
        # While the file is open for writing here, reads go to the staged data, and a reader
        # is made at the first read that needs HCP, from what HCP has then.
        if self._node(path) is not None or not isinstance(entry, ObjectInfo):
            return OpenFile(self._add_handle(path, None))
        keep = self._seen.unchanged(path, entry.etag, entry.size)
        reader = self._new_reader(path, entry, self._prefetch.take(path, entry.etag))
        self._prefetch.opened(path)
        return OpenFile(self._add_handle(path, None, reader), keep)

    def _new_reader(self, path: str, info: ObjectInfo, data: bytes | None = None) -> ObjectReader:
        return ObjectReader(
            self._backend,
            path,
            info.size,
            info.etag,
            pool=self._pool,
            readahead=self._readahead,
            data=data,
        )

    def _reader_for(self, handle: _Handle, node: _Node | None) -> ObjectReader:
        """Make a reader at the first read of a handle whose data is (again) only on HCP."""
        info = node.base if node is not None else self._find(handle.path)
        if not isinstance(info, ObjectInfo):
            raise FsError(errno.ESTALE, "the file has no data on HCP", handle.path)
        reader = self._new_reader(handle.path, info)
        handle.reader = reader
        return reader

    def _new_staged(self, path: str) -> StagedFile:
        return self._local_io(path, self._staging.create, path)

    def _change(
        self,
        node: _Node,
        change: Callable[[StagedFile], T],
        limit: int | None = None,
        write: tuple[int, bytes] | None = None,
    ) -> T:
        """Apply ``change`` to the staged data of ``node``, fetching the content first.

        :param write: the offset and data, when the change is that write
        """
        with node.lock:
            if node.unlinked and node.staged is None:
                raise FsError(errno.ESTALE, "the file was deleted", node.path)
            staged = self._materialize(node, limit)
            result = self._local_io(node.path, change, staged)
            node.dirty = True
            self._follow(node, staged, write)
            return result

    def _follow(self, node: _Node, staged: StagedFile, write: tuple[int, bytes] | None) -> None:
        """Keep a new file's streamed upload in step with its staged data, start one once the
        file is large enough, or end it when the file changed otherwise (§8.8)."""
        stream = node.stream
        if stream is None:
            if write is not None and self._may_stream(node, staged):
                node.stream = self._start_stream(node, staged)
            return
        if write is None:
            kept = staged.sequential and staged.size == stream.fed  # e.g. a truncate to the size
        else:
            offset, data = write
            appended = offset == stream.fed and staged.size == offset + len(data)
            kept = appended and staged.sequential and stream.feed(data)
        if not kept:
            self._abandon(node)

    @staticmethod
    def _may_stream(node: _Node, staged: StagedFile) -> bool:
        return (
            node.streamable
            and not node.remote
            and not node.unlinked
            and staged.sequential
            and staged.size >= STREAM_AFTER
        )

    def _start_stream(self, node: _Node, staged: StagedFile) -> StreamedUpload | None:
        try:
            return self._streams.start(node.path, staged, node.settings)
        except RuntimeError as error:  # no thread could be started
            log.warning("cannot stream the upload of %s: %s", node.path, error)
            node.streamable = False
            return None

    def _abandon(self, node: _Node) -> None:
        """Give up the streamed upload of ``node``, if there is one; HCP stores nothing."""
        with node.lock:
            stream, node.stream = node.stream, None
            node.streamable = False
            if stream is not None:
                node.cut_off = True
                stream.abandon()

    def _materialize(self, node: _Node, limit: int | None) -> StagedFile:
        """Copy the current content into a staging file, once (§8.5); the caller holds the lock.

        :param limit: how many bytes of the content are needed (a truncate needs fewer)
        """
        if node.staged is not None:
            return node.staged
        staged = self._new_staged(node.path)
        base = node.base
        try:
            if base is not None and base.size:
                wanted = base.size if limit is None else min(limit, base.size)
                staged.append_chunks(self._content(node.path, base, wanted))
        except BaseException:
            staged.discard()
            raise
        node.staged = staged
        return staged

    def _content(self, path: str, base: ObjectInfo, length: int) -> Iterator[bytes]:
        part = self.options.read_part_size
        for offset in range(0, length, part):
            size = min(part, length - offset)
            yield self._call(Request.READ, path, self._backend.read, path, offset, size, base.etag)

    def _drop_node(self, node: _Node) -> None:
        with self._lock:
            node.unlinked = True
            if self._nodes.get(node.path) is node:
                del self._nodes[node.path]
        self._abandon(node)

    def _finish(self, node: _Node) -> None:
        """Upload what is left at the last release, then discard or keep the staged data."""
        with node.lock:
            if node.dirty and not node.unlinked and not node.failed:
                try:
                    self._store(node)
                except FsError as error:
                    log.debug("upload at release of %s failed: %s", node.path, error)
            self._abandon(node)
            staged, node.staged = node.staged, None
            if staged is None:
                return
            if node.dirty and not node.unlinked:
                staged.close()
                log.warning(
                    "%s was closed but not stored on HCP; its data stays in %s",
                    node.path,
                    staged.data,
                )
            else:
                staged.discard()

    # -- uploads (§8.8) ------------------------------------------------------------------------

    def _store(self, node: _Node) -> None:
        """Upload the staged data of ``node`` if it changed, verifying HCP's hash."""
        with node.lock:
            if not node.dirty or node.unlinked:
                return
            staged = node.staged
            assert staged is not None, "a changed node always has staged data"
            path = node.path
            try:
                self._make_room(node)
                info = self._finish_stream(node, staged)
                if info is None:
                    info = self._upload(node, staged)
            except FsError as error:
                node.failed = True
                self._local_io(path, staged.mark, "failed", str(error))
                log.warning(
                    "upload of %s failed (%s); its data is kept in %s", path, error, staged.data
                )
                raise
            node.dirty, node.failed, node.remote, node.base = False, False, True, info
            self._local_io(path, staged.mark, "stored")
            self._cache.put(info)
            self._store_annotations(node)

    def _make_room(self, node: _Node) -> None:
        """Check that an existing object may be replaced and, without versioning, delete it."""
        if not node.remote:
            return
        path = node.path
        if self.options.overwrite is Overwrite.REFUSE:
            raise FsError(errno.EPERM, "file exists and overwrite=refuse", path)
        try:
            current = self._backend.stat(path)
        except BackendError as error:
            if error.status != 404:
                raise to_fs_error(error, Request.STAT, path) from error
            node.remote = False
            return
        except (BackendConnectionError, IntegrityError) as error:
            raise to_fs_error(error, Request.STAT, path) from error
        if isinstance(current, ObjectInfo) and current.protected(self._clock()):
            raise FsError(errno.EPERM, "under retention or on hold", path)
        if not self.namespace.versioning:
            self._delete(path)
            node.remote = False

    def _finish_stream(self, node: _Node, staged: StagedFile) -> ObjectInfo | None:
        """Complete the streamed upload of ``node`` if it carries exactly the staged data.

        :return: the stored object, or None when the staged copy must be uploaded instead
        :raises FsError: when HCP refused the object (4xx) or stored other data
        """
        stream = node.stream
        if stream is None:
            return None
        in_step = stream.fed == staged.size and stream.settings == node.settings
        if not (in_step and staged.sequential and stream.path == node.path and not node.remote):
            self._abandon(node)
            return None
        node.stream = None
        outcome = stream.finish()
        error = outcome.error
        if isinstance(error, BackendError) and 400 <= error.status < 500:
            raise to_fs_error(error, Request.STORE, node.path) from error
        if outcome.info is None:
            log.info("streaming %s failed (%s); sending the staged copy", node.path, error)
            node.cut_off = True
            return None
        digest = self._local_io(node.path, staged.sha256)
        try:
            with staged.reader() as file:
                check_hash(node.path, outcome.info.hash, digest, (file, 0, staged.size))
        except IntegrityError as mismatch:
            self._remove_corrupt(node.path)
            raise to_fs_error(mismatch, Request.STORE, node.path) from mismatch
        return outcome.info

    def _upload(self, node: _Node, staged: StagedFile) -> ObjectInfo:
        path = node.path
        digest = self._local_io(path, staged.sha256)
        settings = node.settings if not node.settings.is_empty() else None
        started = time.monotonic()
        try:
            info = self._send_staged(node, staged, digest, settings)
        except IntegrityError as error:
            self._remove_corrupt(path)
            raise to_fs_error(error, Request.STORE, path) from error
        except (BackendError, BackendConnectionError) as error:
            raise to_fs_error(error, Request.STORE, path) from error
        except OSError as error:
            raise to_fs_error(error, Request.STORE, path) from error
        log.debug(
            "stored %s: %d bytes in %.0f ms", path, staged.size, (time.monotonic() - started) * 1e3
        )
        return info

    def _send_staged(
        self, node: _Node, staged: StagedFile, digest: str, settings: ObjectSettings | None
    ) -> ObjectInfo:
        """PUT the staged data. Just after a streamed PUT of the file was cut off, HCP may still
        hold the name as being written (409) for a moment: try again for a little while."""

        def put() -> ObjectInfo:
            with staged.reader() as file:
                return self._backend.store(node.path, file, staged.size, digest, settings)

        for _ in range(_CUT_OFF_TRIES - 1 if node.cut_off else 0):
            try:
                return put()
            except BackendError as error:
                if error.status != 409:
                    raise
            time.sleep(_CUT_OFF_PAUSE)
        return put()

    def _remove_corrupt(self, path: str) -> None:
        try:
            self._backend.delete(path)
        except _BACKEND_ERRORS as error:
            log.warning("could not delete %s, stored with a wrong hash: %s", path, error)
        self._cache.invalidate(path)

    def _store_annotations(self, node: _Node) -> None:
        pending, node.annotations = node.annotations, {}
        node.settings = ObjectSettings()
        for name, data in pending.items():
            self._call(
                Request.PUT_ANNOTATION,
                node.path,
                self._backend.put_annotation,
                node.path,
                name,
                data,
            )
        if pending:
            self._cache.invalidate(node.path)

    def _delete(self, path: str) -> None:
        try:
            self._backend.delete(path)
        except BackendError as error:
            if error.status != 404:
                raise to_fs_error(error, Request.DELETE, path) from error
        except (BackendConnectionError, IntegrityError) as error:
            raise to_fs_error(error, Request.DELETE, path) from error
        self._forget(path)

    def _forget(self, path: str) -> None:
        self._cache.invalidate(path)
        self._cache.put_absent(path)
        self._seen.forget(path)
        self._prefetch.forget(path)

    # -- rename (§8.12) ------------------------------------------------------------------------

    def _rename_file(self, old: str, new: str, source: Entry, target: Entry | None) -> None:
        node = self._node(old)
        if node is not None and not node.remote:
            self._check_replaceable(new, target)
            if isinstance(target, SymlinkInfo):
                self._delete(new)
            self._move_node(node, new, target if isinstance(target, ObjectInfo) else None)
            self._move_handles(old, new)
            return
        if node is not None:
            self._store(node)
            source = node.base or source
        assert isinstance(source, ObjectInfo)
        if source.protected(self._clock()):
            raise FsError(errno.EPERM, "under retention or on hold", old)
        self._check_replaceable(new, target)
        if target is not None and (
            not self.namespace.versioning or not isinstance(target, ObjectInfo)
        ):
            self._delete(new)
        copied = self._call(Request.COPY, new, self._backend.copy, old, new)
        self._cache.invalidate(new)
        if source.hash and copied.hash and source.hash != copied.hash:
            self._undo_copy(new)
            raise FsError(errno.EIO, f"copy has hash {copied.hash}, source {source.hash}", new)
        try:
            self._delete(old)
        except FsError:
            self._undo_copy(new)
            raise
        self._cache.put(copied)
        if node is not None:
            self._move_node(node, new, copied)
        self._move_handles(old, new)

    def _check_replaceable(self, path: str, target: Entry | None) -> None:
        if not isinstance(target, ObjectInfo):
            return
        if self.options.overwrite is Overwrite.REFUSE:
            raise FsError(errno.EPERM, "target exists and overwrite=refuse", path)
        if target.protected(self._clock()):
            raise FsError(errno.EPERM, "target under retention or on hold", path)

    def _undo_copy(self, path: str) -> None:
        try:
            self._backend.delete(path)
        except _BACKEND_ERRORS as error:
            log.warning("could not delete %s again after a failed rename: %s", path, error)
        self._forget(path)

    def _move_node(self, node: _Node, new: str, base: ObjectInfo | None) -> None:
        old = node.path
        self._abandon(node)
        with node.lock, self._lock:
            del self._nodes[old]
            node.path = new
            node.base = base
            node.remote = base is not None
            self._nodes[new] = node
        if node.staged is not None:
            self._local_io(new, setattr, node.staged, "path", new)
        self._cache.invalidate(old)
        self._cache.invalidate(new)

    def _move_handles(self, old: str, new: str) -> None:
        with self._lock:
            for handle in self._handles.values():
                if handle.path == old:
                    handle.path = new
                    if handle.reader is not None:
                        handle.reader.path = new

    def _rename_symlink(
        self, old: str, new: str, source: SymlinkInfo, target: Entry | None
    ) -> None:
        self._check_replaceable(new, target)
        link_target = self.readlink(old)
        if target is not None:
            self._delete(new)
        self._call(Request.SYMLINK, new, self._backend.symlink, new, link_target)
        self._cache.invalidate(new)
        try:
            self._delete(old)
        except FsError:
            self._undo_copy(new)
            raise

    def _rename_directory(self, old: str, new: str, target: Entry | None) -> None:
        if target is not None and not isinstance(target, DirInfo):
            raise FsError(errno.ENOTDIR, "target is not a directory", new)
        if target is not None and (
            self._has_pending_below(new)
            or self._call(Request.LISTDIR, new, self._backend.listdir, new)
        ):
            raise FsError(errno.ENOTEMPTY, "target directory is not empty", new)
        if self._has_pending_below(old) or self._call(
            Request.LISTDIR, old, self._backend.listdir, old
        ):
            raise FsError(errno.EXDEV, "HCP cannot rename a non-empty directory", old)
        if target is None:
            self._call(Request.MKDIR, new, self._backend.mkdir, new)
            self._cache.invalidate(new)
        try:
            self.rmdir(old)
        except FsError:
            if target is None:
                self._undo_mkdir(new)
            raise

    def _undo_mkdir(self, path: str) -> None:
        try:
            self._backend.rmdir(path)
        except _BACKEND_ERRORS as error:
            log.warning("could not remove %s again after a failed rename: %s", path, error)
        self._forget(path)

    # -- extended attributes: internals --------------------------------------------------------

    def _writing_node(self, path: str) -> _Node | None:
        """Return the node whose next upload carries settings set now, if there is one.

        That is a file not uploaded yet, or one open for writing with changes not uploaded:
        settings sent to the object HCP has now would be lost with it.
        """
        node = self._node(path)
        return node if node is not None and (not node.remote or node.dirty) else None

    def _accept_hash(self, path: str, node: _Node | None, value: bytes) -> None:
        """Let ``mv`` and ``cp -a`` copy the hash: accept it unchanged or before an upload."""
        if node is not None:
            return  # the upload checks the hash of the data it sends anyway
        info = self._require_object(path, errno.EPERM)
        if value.decode("utf-8", "replace").strip().rstrip("\0") != info.hash:
            raise FsError(errno.EPERM, "the hash is computed by HCP", path)

    def _set_xattr(self, info: ObjectInfo, parsed: xattrs.Name, value: bytes, flags: int) -> None:
        path = info.path
        if parsed.kind is xattrs.Kind.ANNOTATION:
            self._put_annotation(info, parsed.annotation, value, flags)
        else:
            if flags & xattrs.XATTR_CREATE:
                raise FsError(errno.EEXIST, "HCP settings always exist", path)
            settings = xattrs.settings_for(parsed.kind, value)
            if xattrs.unchanged(info, settings):
                return  # e.g. cp -a copying hold=false: no request, no permission needed
            self._call(Request.SET_METADATA, path, self._backend.set_metadata, path, settings)
        self._cache.invalidate(path)

    def _pending_xattr(self, node: _Node, parsed: xattrs.Name) -> bytes | None:
        if parsed.kind is xattrs.Kind.ANNOTATION:
            return node.annotations.get(parsed.annotation)
        if parsed.kind not in xattrs.SETTINGS:
            return None
        setting = getattr(node.settings, parsed.kind.value)
        if isinstance(setting, bool):
            return b"true" if setting else b"false"
        return None if setting is None else str(setting).encode("utf-8")

    def _set_pending_xattr(
        self, node: _Node, parsed: xattrs.Name, value: bytes, flags: int
    ) -> None:
        with node.lock:
            if parsed.kind is not xattrs.Kind.ANNOTATION:
                change = xattrs.settings_for(parsed.kind, value)
                # A new object is never on hold: sending hold=false would only need privileges.
                if change.hold is False or (node.base and xattrs.unchanged(node.base, change)):
                    return
                node.settings = xattrs.merge(node.settings, change)
                return
            exists = parsed.annotation in node.annotations
            self._check_xattr_flags(node.path, exists, flags)
            if not exists and len(node.annotations) >= xattrs.MAX_ANNOTATIONS:
                raise FsError(errno.ENOSPC, "HCP keeps at most 10 annotations", node.path)
            node.annotations[parsed.annotation] = value

    def _put_annotation(self, info: ObjectInfo, name: str, value: bytes, flags: int) -> None:
        exists = name in info.annotations
        self._check_xattr_flags(info.path, exists, flags)
        user_annotations = [a for a in info.annotations if a != SYMLINK_ANNOTATION]
        if not exists and len(user_annotations) >= xattrs.MAX_ANNOTATIONS:
            raise FsError(errno.ENOSPC, "HCP keeps at most 10 annotations", info.path)
        self._call(
            Request.PUT_ANNOTATION, info.path, self._backend.put_annotation, info.path, name, value
        )

    @staticmethod
    def _check_xattr_flags(path: str, exists: bool, flags: int) -> None:
        if flags & xattrs.XATTR_CREATE and exists:
            raise FsError(errno.EEXIST, "attribute exists", path)
        if flags & xattrs.XATTR_REPLACE and not exists:
            raise FsError(errno.ENODATA, "no such attribute", path)

    # -- error translation ---------------------------------------------------------------------

    def _call(self, request: Request, path: str, function: Callable[..., T], *args: object) -> T:
        """Run one backend request, turning its failure into an :class:`FsError`."""
        try:
            return function(*args)
        except _BACKEND_ERRORS as error:
            raise to_fs_error(error, request, path) from error

    @staticmethod
    def _local_io(path: str, function: Callable[..., T], *args: object) -> T:
        """Run one operation on the staging disk, turning ``OSError`` into an :class:`FsError`."""
        try:
            return function(*args)
        except OSError as error:
            raise to_fs_error(error, None, path) from error


def _writes_new_data(flags: int) -> bool:
    """Tell whether a handle only writes, into a file it emptied: nothing the kernel may have
    cached of the file stays valid, and the handle cannot read, so caching its writes in the
    kernel would only cost a copy of every byte."""
    return flags & os.O_ACCMODE == os.O_WRONLY and bool(flags & os.O_TRUNC)


def _writes(flags: int) -> bool:
    return flags & os.O_ACCMODE != os.O_RDONLY or bool(flags & os.O_TRUNC)
