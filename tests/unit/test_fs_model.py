"""The core against a reference model (docs/SEMANTICS.md §8.7-§8.12).

Random sequences of create, write, truncate, read, unlink, mkdir, rmdir and rename run against
a Filesystem over the memory backend and against a dict of path -> bytes plus a set of
directories. After every step both must agree: on each result or errno, on every listing, and
on what HCP holds.
"""

import errno
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.options import Options

DIRECTORIES = ["/", "/d", "/e", "/d/f"]
NAMES = ["a", "b", "d", "f"]
PATHS = sorted({posixpath.join(d, n) for d in DIRECTORIES for n in NAMES} | set(DIRECTORIES[1:]))

paths = st.sampled_from(PATHS)
contents = st.binary(max_size=48)


def outcome(call: object, *args: object) -> int:
    """Run ``call``; return 0 or the errno of its FsError."""
    try:
        call(*args)  # type: ignore[operator]
    except FsError as error:
        return error.errno
    return 0


class FilesystemModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.dirs: set[str] = {"/"}
        self.staging = Path(tempfile.mkdtemp(prefix="hcpfs-model-"))
        self.backend = MemoryBackend()
        self.fs: Filesystem | None = None

    @initialize(versioning=st.booleans(), caching=st.booleans())
    def start(self, versioning: bool, caching: bool) -> None:
        self.backend.versioning = versioning
        ttl = 60.0 if caching else 0.0
        options = Options(
            staging_dir=self.staging, attr_ttl=ttl, negative_ttl=ttl, listing_ttl=ttl
        )
        self.fs = Filesystem(self.backend, options)

    def teardown(self) -> None:
        if self.fs is not None:
            self.fs.close()
        shutil.rmtree(self.staging, ignore_errors=True)

    @property
    def filesystem(self) -> Filesystem:
        assert self.fs is not None
        return self.fs

    # -- what the model expects ------------------------------------------------------------

    def kind(self, path: str) -> str:
        if path in self.dirs:
            return "dir"
        return "file" if path in self.files else "none"

    def children(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        names = {p[len(prefix) :].split("/")[0] for p in [*self.files, *self.dirs] if p != "/"}
        return sorted(
            name for name in names if name and f"{prefix}{name}" in {*self.files, *self.dirs}
        )

    def parent_problem(self, path: str) -> int:
        parent = posixpath.dirname(path)
        if self.kind(parent) == "none":
            return errno.ENOENT
        return errno.ENOTDIR if self.kind(parent) == "file" else 0

    # -- rules -------------------------------------------------------------------------------

    @rule(path=paths, data=contents)
    def write_whole_file(self, path: str, data: bytes) -> None:
        """What ``cp`` or ``echo > path`` do, with the kernel's lookups first."""
        expected = self.parent_problem(path) or (errno.EISDIR if path in self.dirs else 0)
        assert outcome(self._write_whole, path, data) == expected
        if expected == 0:
            self.files[path] = data

    def _write_whole(self, path: str, data: bytes) -> None:
        fs = self.filesystem
        fs.getattr(posixpath.dirname(path))
        if outcome(fs.getattr, path) == errno.ENOENT:
            opened = fs.create(path, 0o644, os.O_WRONLY | os.O_CREAT)
        else:
            opened = fs.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            fs.write(opened.fh, 0, data)
            fs.flush(opened.fh)
        finally:
            fs.release(opened.fh)

    @rule(path=paths, offset=st.integers(0, 64), data=contents)
    def write_into(self, path: str, offset: int, data: bytes) -> None:
        kind = self.kind(path)
        expected = {"none": errno.ENOENT, "dir": errno.EISDIR, "file": 0}[kind]
        assert outcome(self._write_into, path, offset, data) == expected
        if expected == 0 and data:  # an empty write changes nothing
            old = self.files[path]
            padded = old + b"\0" * max(0, offset - len(old))
            self.files[path] = padded[:offset] + data + padded[offset + len(data) :]

    def _write_into(self, path: str, offset: int, data: bytes) -> None:
        fs = self.filesystem
        opened = fs.open(path, os.O_RDWR)
        try:
            if data:
                fs.write(opened.fh, offset, data)
            fs.flush(opened.fh)
        finally:
            fs.release(opened.fh)

    @rule(path=paths, length=st.integers(0, 64))
    def truncate(self, path: str, length: int) -> None:
        kind = self.kind(path)
        expected = {"none": errno.ENOENT, "dir": errno.EISDIR, "file": 0}[kind]
        assert outcome(self.filesystem.truncate, path, length) == expected
        if expected == 0:
            self.files[path] = self.files[path][:length].ljust(length, b"\0")

    @rule(path=paths)
    def read(self, path: str) -> None:
        kind = self.kind(path)
        if kind != "file":
            expected = errno.ENOENT if kind == "none" else errno.EISDIR
            assert outcome(self.filesystem.open, path, os.O_RDONLY) == expected
            return
        opened = self.filesystem.open(path, os.O_RDONLY)
        try:
            assert self.filesystem.read(opened.fh, 0, 4096) == self.files[path]
        finally:
            self.filesystem.release(opened.fh)

    @rule(path=paths)
    def unlink(self, path: str) -> None:
        expected = {"none": errno.ENOENT, "dir": errno.EISDIR, "file": 0}[self.kind(path)]
        assert outcome(self.filesystem.unlink, path) == expected
        if expected == 0:
            del self.files[path]

    @rule(path=paths)
    def mkdir(self, path: str) -> None:
        expected = errno.EEXIST if self.kind(path) != "none" else self.parent_problem(path)
        assert outcome(self.filesystem.mkdir, path, 0o755) == expected
        if expected == 0:
            self.dirs.add(path)

    @rule(path=paths)
    def rmdir(self, path: str) -> None:
        kind = self.kind(path)
        if kind == "none":
            expected = errno.ENOENT
        elif kind == "file":
            expected = errno.ENOTDIR
        else:
            expected = errno.ENOTEMPTY if self.children(path) else 0
        assert outcome(self.filesystem.rmdir, path) == expected
        if expected == 0:
            self.dirs.discard(path)

    @rule(old=paths, new=paths)
    def rename(self, old: str, new: str) -> None:
        expected = self.rename_errno(old, new)
        assert outcome(self.filesystem.rename, old, new) == expected, (old, new)
        if expected != 0 or old == new:
            return
        if old in self.files:
            self.files[new] = self.files.pop(old)
        else:
            self.dirs.discard(old)
            self.dirs.add(new)

    def rename_errno(self, old: str, new: str) -> int:
        source, target = self.kind(old), self.kind(new)
        if source == "none":
            return errno.ENOENT
        if old == new:
            return 0
        if new.startswith(old + "/"):
            return errno.EINVAL
        if self.parent_problem(new):
            return self.parent_problem(new)
        if source == "file":
            return errno.EISDIR if target == "dir" else 0
        if target == "file":
            return errno.ENOTDIR
        if target == "dir" and self.children(new):
            return errno.ENOTEMPTY
        return errno.EXDEV if self.children(old) else 0

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def listings_agree(self) -> None:
        if self.fs is None:
            return
        for directory in self.dirs:
            names = [name for name, _ in self.filesystem.readdir(directory)][2:]
            assert names == self.children(directory), directory
        for path, data in self.files.items():
            assert self.filesystem.getattr(path)["st_size"] == len(data)

    @invariant()
    def hcp_holds_exactly_the_model(self) -> None:
        expected = sorted([*self.files, *(d.rstrip("/") + "/" for d in self.dirs)])
        assert self.backend.paths() == expected
        for path, data in self.files.items():
            assert self.backend.data_of(path) == data
        assert self.filesystem.open_handles() == 0 if self.fs else True


FilesystemModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFilesystemModel = FilesystemModel.TestCase
