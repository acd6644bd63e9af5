"""A minimal in-memory FUSE filesystem on mfusepy: the ceiling of a FUSE filesystem in Python.

It keeps every file in a ``bytearray`` in the process and does no other work, so what it
costs is what the kernel, libfuse, the ctypes binding and the interpreter cost per call.
It is bound as hcpfs binds (libfuse 3; 1 MiB ``max_write`` and ``max_readahead``; ``use_ns``;
``raw_fi``; attributes of every entry given with the listing, READDIRPLUS; 1 s attribute,
entry and negative timeouts; multithreaded), except that it never sets ``keep_cache``: every
open drops the kernel's cached pages of the file, so reads go through FUSE each time. (On
this machine the kernel still sends reads of 128 KiB: 4,096 reads for a file of 512 MiB.)

It has what copying, ``ls -l`` and sequential reads and writes need: files and directories
(create, mkdir, read, write, truncate, unlink, rmdir, rename of files, chmod, utimens). No
symlinks, hard links, extended attributes or ownership changes; one lock serialises all
operations; nothing is kept after unmounting.

The file ``/.memfuse-stats`` (not listed) reads as JSON counts of the reads and writes served,
so a caller can tell that its reads did go through FUSE.

Run as root, in the foreground until unmounted (``fusermount3 -u MOUNTPOINT``):
``python bench/memfuse.py MOUNTPOINT [--load DIR ...] [--listing COUNT]``; ``--load`` copies
the files of DIR into ``/<name of DIR>`` before mounting, ``--listing`` creates ``/listed``
with COUNT files of 100 bytes.
"""

from __future__ import annotations

import argparse
import errno
import itertools
import json
import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# mfusepy picks libfuse when imported; hcpfs uses libfuse 3 (1 MiB writes).
os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")

import mfusepy  # type: ignore[import-untyped]  # no type information shipped

log = logging.getLogger(__name__)

SUBTYPE = "memfuse"
STATS = "/.memfuse-stats"
MIB = 1024 * 1024
TTL = 1.0
LISTED_SIZE = 100
UID = os.getuid()
GID = os.getgid()
# libfuse 3: the kernel asks for READDIRPLUS for the first batch only, unless this is cleared.
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2


@dataclass
class Node:
    """A file (``data`` is its content) or a directory (``children`` are its names)."""

    mode: int
    data: bytearray | None = None
    children: dict[str, None] | None = None
    mtime_ns: int = field(default_factory=time.time_ns)

    def attributes(self) -> dict[str, int]:
        size = len(self.data) if self.data is not None else 0
        return {
            "st_mode": self.mode,
            "st_nlink": 2 if self.children is not None else 1,
            "st_size": size,
            "st_uid": UID,
            "st_gid": GID,
            "st_atime": self.mtime_ns,
            "st_mtime": self.mtime_ns,
            "st_ctime": self.mtime_ns,
            "st_blocks": (size + 511) // 512,
            "st_blksize": MIB,
        }


def _fail(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent or "/", name


class MemoryFilesystem:
    """The operations mfusepy calls (with ``raw_fi``), on a tree of nodes held in memory."""

    use_ns = True

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {"/": Node(stat.S_IFDIR | 0o755, children={})}
        self._lock = threading.Lock()
        self._listings: dict[int, list[tuple[str, dict[str, int]]]] = {}
        self._numbers = itertools.count(1)
        self._counts = {"reads": 0, "bytes_read": 0, "writes": 0, "bytes_written": 0}

    # -- filling before mounting ------------------------------------------------------------

    def add_file(self, path: str, content: bytes) -> None:
        """Create the file ``path`` (its parent must exist) holding ``content``."""
        self._add(path, Node(stat.S_IFREG | 0o644, data=bytearray(content)))

    def add_directory(self, path: str) -> None:
        """Create the directory ``path`` (its parent must exist)."""
        self._add(path, Node(stat.S_IFDIR | 0o755, children={}))

    def _add(self, path: str, node: Node) -> None:
        parent, name = _split(path)
        children = self._directory(parent).children
        assert children is not None
        if path in self._nodes:
            raise _fail(errno.EEXIST)
        self._nodes[path] = node
        children[name] = None

    def _node(self, path: str) -> Node:
        node = self._nodes.get(path)
        if node is None:
            raise _fail(errno.ENOENT)
        return node

    def _directory(self, path: str) -> Node:
        node = self._node(path)
        if node.children is None:
            raise _fail(errno.ENOTDIR)
        return node

    def _file(self, path: str) -> Node:
        node = self._node(path)
        if node.data is None:
            raise _fail(errno.EISDIR)
        return node

    # -- set-up ------------------------------------------------------------------------------

    def init_with_config(self, conn: Any, config: Any) -> None:
        """Ask for 1 MiB writes and read-ahead and READDIRPLUS always; 1 s timeouts."""
        if conn is not None:
            conn.max_write = MIB
            conn.max_readahead = MIB
            conn.want &= ~FUSE_CAP_READDIRPLUS_AUTO
        if config is not None:
            config.attr_timeout = TTL
            config.entry_timeout = TTL
            config.negative_timeout = TTL

    # -- metadata ----------------------------------------------------------------------------

    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        if path == STATS:
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": 0}
        with self._lock:
            return self._node(path).attributes()

    def opendir(self, path: str) -> int:
        with self._lock:
            children = self._directory(path).children
            assert children is not None
            listed: list[tuple[str, dict[str, int]]] = [(".", {}), ("..", {})]
            listed += [
                (name, self._nodes[f"{path.rstrip('/')}/{name}"].attributes()) for name in children
            ]
            number = next(self._numbers)
            self._listings[number] = listed
        return number

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int]]]:
        """Return the entries of the directory opened as ``fh``, as they were at opendir."""
        with self._lock:
            return self._listings.get(fh, [])

    def releasedir(self, path: str, fh: int) -> int:
        with self._lock:
            self._listings.pop(fh, None)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        with self._lock:
            self._add(path, Node(stat.S_IFDIR | (mode & 0o7777), children={}))
        return 0

    def rmdir(self, path: str) -> int:
        with self._lock:
            if self._directory(path).children:
                raise _fail(errno.ENOTEMPTY)
            self._remove(path)
        return 0

    def unlink(self, path: str) -> int:
        with self._lock:
            self._file(path)
            self._remove(path)
        return 0

    def _remove(self, path: str) -> None:
        parent, name = _split(path)
        children = self._nodes[parent].children
        assert children is not None
        del self._nodes[path]
        del children[name]

    def rename(self, old: str, new: str) -> int:
        with self._lock:
            node = self._file(old)
            if new in self._nodes:
                self._file(new)
                self._remove(new)
            self._remove(old)
            self._add(new, node)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        with self._lock:
            node = self._node(path)
            node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        with self._lock:
            self._node(path).mtime_ns = times[1] if times is not None else time.time_ns()
        return 0

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        with self._lock:
            data = self._file(path).data
            assert data is not None
            if length < len(data):
                del data[length:]
            else:
                data.extend(bytes(length - len(data)))
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": MIB, "f_frsize": MIB, "f_namemax": 255}

    # -- content -----------------------------------------------------------------------------

    def create(self, path: str, mode: int, info: Any) -> int:
        with self._lock:
            self._add(path, Node(stat.S_IFREG | (mode & 0o7777), data=bytearray()))
        info.keep_cache = 0
        return 0

    def open(self, path: str, info: Any) -> int:
        if path == STATS:
            info.direct_io = 1
            return 0
        with self._lock:
            data = self._file(path).data
            assert data is not None
            if info.flags & os.O_TRUNC:
                del data[:]
        info.keep_cache = 0
        return 0

    def read(self, path: str, size: int, offset: int, info: Any) -> bytes:
        if path == STATS:
            with self._lock:
                report = json.dumps(self._counts).encode() + b"\n"
            return report[offset : offset + size]
        with self._lock:
            data = self._file(path).data
            assert data is not None
            piece = bytes(memoryview(data)[offset : offset + size])
            self._counts["reads"] += 1
            self._counts["bytes_read"] += len(piece)
        return piece

    def write(self, path: str, data: bytes, offset: int, info: Any) -> int:
        with self._lock:
            content = self._file(path).data
            assert content is not None
            if offset == len(content):
                content += data
            else:
                if offset > len(content):
                    content.extend(bytes(offset - len(content)))
                content[offset : offset + len(data)] = data
            self._counts["writes"] += 1
            self._counts["bytes_written"] += len(data)
        return len(data)

    def flush(self, path: str, info: Any) -> int:
        return 0

    def release(self, path: str, info: Any) -> int:
        return 0


class Binding(mfusepy.FUSE):  # type: ignore[misc]  # mfusepy has no type information
    """mfusepy's binding, answering READDIRPLUS with every entry's attributes (as hcpfs does).

    mfusepy alone passes only the mode, so ``ls -l`` would send one lookup per entry.
    """

    def readdir_fuse_3(
        self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int
    ) -> int:
        """Fill one piece of the listing, from entry ``offset`` on, with offsets."""
        listed = self.operations.readdir("", fip.contents.fh)
        plus = FUSE_FILL_DIR_PLUS if flags & FUSE_READDIR_PLUS else 0
        for index in range(offset, len(listed)):
            name, attrs = listed[index]
            entry = mfusepy.c_stat()
            mfusepy.set_st_attrs(entry, attrs, use_ns=True)
            encoded = name.encode(self.encoding, self.errors)
            if filler(buf, encoded, entry, index + 1, plus if attrs else 0) != 0:
                break
        return 0


def load(filesystem: MemoryFilesystem, directory: Path) -> None:
    """Copy the regular files directly in ``directory`` into ``/<its name>``."""
    target = f"/{directory.name}"
    filesystem.add_directory(target)
    for path in sorted(directory.iterdir()):
        if path.is_file():
            filesystem.add_file(f"{target}/{path.name}", path.read_bytes())


def fill_listing(filesystem: MemoryFilesystem, count: int) -> None:
    """Create ``/listed`` holding ``count`` files of 100 bytes."""
    filesystem.add_directory("/listed")
    for number in range(count):
        filesystem.add_file(f"/listed/o{number:06}", b"l" * LISTED_SIZE)


def serve(filesystem: MemoryFilesystem, mountpoint: Path) -> None:
    """Serve ``filesystem`` at ``mountpoint`` in the foreground until it is unmounted."""
    try:
        Binding(
            filesystem,
            str(mountpoint),
            raw_fi=True,
            foreground=True,
            fsname=SUBTYPE,
            subtype=SUBTYPE,
        )
    except RuntimeError as error:
        # libfuse reports the end of a mount by SIGTERM or SIGINT as a failure.
        log.info("libfuse ended the mount with status %s", error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--load", type=Path, action="append", default=[], metavar="DIR")
    parser.add_argument("--listing", type=int, default=0, metavar="COUNT")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    filesystem = MemoryFilesystem()
    for directory in args.load:
        load(filesystem, directory)
    if args.listing:
        fill_listing(filesystem, args.listing)
    serve(filesystem, args.mountpoint.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
