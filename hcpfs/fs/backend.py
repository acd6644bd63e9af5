"""What the filesystem needs from HCP: a narrow interface and the values it returns.

Paths are filesystem paths: absolute, ``/``-separated, without a trailing slash; ``/`` is the
namespace's root and ``/a/b`` is the object whose URL path is ``/rest/a/b``. Every method may be
called from several threads at once.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

SYMLINK_ANNOTATION = "hcpfs-symlink"
"""Annotation that marks an object as a symbolic link made through hcpfs (its data: the target)."""

RETENTION_ALLOWED = 0
RETENTION_PROHIBITED = -1
RETENTION_UNSPECIFIED = -2

_CHUNK = 1024 * 1024


def name_of(path: str) -> str:
    """Return the last component of ``path`` (empty for the root)."""
    return posixpath.basename(path)


@dataclass(frozen=True)
class ObjectInfo:
    """An object (a file) as HEAD and listings describe it.

    :param retention: HCP's numeric retention: 0 (deletion allowed), -1 (deletion prohibited),
        -2 (initial unspecified) or the end of retention in seconds since the epoch
    :param hash: HCP's hash as it writes it, e.g. ``SHA-256 5D45...``; empty if HCP has none
    :param annotations: names of the object's annotations
    """

    path: str
    size: int
    etag: str | None = None
    hash: str = ""
    version_id: str = ""
    ingest_time: float = 0.0
    change_time: float = 0.0
    retention: int = RETENTION_ALLOWED
    retention_string: str = "Deletion Allowed"
    retention_class: str = ""
    hold: bool = False
    shred: bool = False
    index: bool = False
    annotations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The last component of the path."""
        return name_of(self.path)

    def protected(self, now: float) -> bool:
        """Tell whether HCP would refuse to delete this object or add a version of it now.

        :param now: the current time in seconds since the epoch
        """
        if self.hold:
            return True
        if self.retention in (RETENTION_PROHIBITED, RETENTION_UNSPECIFIED):
            return True
        return self.retention > 0 and now < self.retention


@dataclass(frozen=True)
class DirInfo:
    """A directory."""

    path: str
    change_time: float = 0.0

    @property
    def name(self) -> str:
        """The last component of the path."""
        return name_of(self.path)


@dataclass(frozen=True)
class SymlinkInfo:
    """A symbolic link, made through HCP's NFS/CIFS access or through hcpfs.

    :param target: the target, or None when it must be read as the object's data (links made
        through hcpfs, as listings show them)
    :param size: the length of the target in bytes
    """

    path: str
    target: str | None
    size: int
    change_time: float = 0.0

    @property
    def name(self) -> str:
        """The last component of the path."""
        return name_of(self.path)


Entry = ObjectInfo | DirInfo | SymlinkInfo


@dataclass(frozen=True)
class ObjectSettings:
    """System metadata to give an object on store (PUT query) or later (POST); None = unchanged.

    :param retention: any HCP retention expression, e.g. ``A+10y``, ``-1``, ``C+class``
    """

    retention: str | None = None
    hold: bool | None = None
    shred: bool | None = None
    index: bool | None = None

    def is_empty(self) -> bool:
        """Tell whether no setting is given."""
        return self == ObjectSettings()


@dataclass(frozen=True)
class NamespaceInfo:
    """The settings of the namespace that matter to the filesystem."""

    name: str
    versioning: bool
    hash_scheme: str = "SHA-256"
    retention_mode: str = "enterprise"


@dataclass(frozen=True)
class Statistics:
    """What ``/proc/statistics`` reports."""

    total_capacity_bytes: int
    used_capacity_bytes: int
    object_count: int
    soft_quota_percent: int = 85


class Listing(list[Entry]):
    """The children of a directory as one listing gave them, with the directory itself as the
    listing described it (what a HEAD of it would say).

    :param directory: the listed directory
    """

    def __init__(self, directory: DirInfo) -> None:
        super().__init__()
        self.directory = directory


class BackendError(Exception):
    """HCP answered a request with an error status.

    :param status: the HTTP status
    :param message: HCP's ``X-HCP-ErrorMessage``, if any
    :param path: the path the request was about
    """

    def __init__(self, status: int, message: str = "", path: str = "") -> None:
        super().__init__(status, message, path)
        self.status = status
        self.message = message
        self.path = path

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"HCP answered {self.status} for {self.path or '?'}{detail}"


class BackendConnectionError(Exception):
    """No node of HCP could be reached, or the client's retries were spent.

    :param reason: what went wrong, for the log
    :param path: the path the request was about
    """

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason, path)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"HCP unreachable for {self.path or '?'}: {self.reason}"


class IntegrityError(Exception):
    """HCP stored an object whose hash differs from the hash of the data sent.

    :param path: the path of the stored object
    :param expected: the hash of the data sent
    :param actual: the hash HCP reported
    """

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(path, expected, actual)
        self.path = path
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return f"hash mismatch for {self.path}: sent {self.expected}, HCP has {self.actual}"


class Backend(Protocol):
    """The requests the filesystem sends to HCP.

    Errors are :class:`BackendError` (HCP's status), :class:`BackendConnectionError` (connection),
    or :class:`IntegrityError` (store only).
    """

    def namespace_info(self) -> NamespaceInfo:
        """Return the namespace's settings (``GET /proc``)."""
        ...

    def statistics(self) -> Statistics:
        """Return capacity, usage and object count (``GET /proc/statistics``)."""
        ...

    def stat(self, path: str) -> Entry:
        """Describe one path (HEAD); 404 when it does not exist."""
        ...

    def listdir(
        self, path: str, progress: Callable[[Sequence[Entry]], None] | None = None
    ) -> list[Entry]:
        """Return the immediate children of a directory, in one listing request.

        Object entries carry annotation names; an object with the :data:`SYMLINK_ANNOTATION`
        is returned as a :class:`SymlinkInfo` whose target is read with :meth:`read`. A
        :class:`Listing` also describes the directory itself.

        :param progress: given the entries in consecutive batches that together make the
            listing, as they are read (a batch may be empty)
        """
        ...

    def read(self, path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        """Return ``length`` bytes of an object from ``offset`` (ranged GET).

        :param if_match: an ETag; HCP answers 412 when the object no longer has it
        """
        ...

    def store(
        self,
        path: str,
        file: BinaryIO,
        size: int,
        sha256: str,
        settings: ObjectSettings | None = None,
    ) -> ObjectInfo:
        """Store ``size`` bytes read from ``file`` as an object or a new version (PUT).

        The backend compares HCP's hash of what it stored with ``sha256`` (lowercase hex) and
        raises :class:`IntegrityError` when they differ; the object then exists on HCP.

        :param settings: retention, hold, shred and index for the new object
        """
        ...

    def store_stream(
        self, path: str, chunks: Iterable[bytes], settings: ObjectSettings | None = None
    ) -> ObjectInfo:
        """Store the data ``chunks`` yields, as it comes, as an object or a new version (PUT
        with a chunked body, sent once: an exception from ``chunks`` abandons the request, and
        HCP stores nothing).

        The returned :attr:`ObjectInfo.hash` is HCP's hash of what it stored; the caller
        compares it with its own (:func:`check_hash`).

        :param settings: retention, hold, shred and index for the new object
        """
        ...

    def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object and its annotations on the server (PUT with ``X-HCP-CopySource``)."""
        ...

    def delete(self, path: str) -> None:
        """Delete an object or a symbolic link (DELETE)."""
        ...

    def mkdir(self, path: str) -> None:
        """Create a directory (PUT ``?type=directory``); 409 when the name is taken."""
        ...

    def rmdir(self, path: str) -> None:
        """Delete an empty directory (DELETE); 403 when it is not empty."""
        ...

    def symlink(self, path: str, target: str) -> None:
        """Create a symbolic link as an object marked with :data:`SYMLINK_ANNOTATION`."""
        ...

    def set_metadata(self, path: str, settings: ObjectSettings) -> None:
        """Change the system metadata of an object (POST)."""
        ...

    def get_annotation(self, path: str, name: str) -> bytes | None:
        """Return one annotation of an object, or None when it has none of that name."""
        ...

    def put_annotation(self, path: str, name: str, data: bytes) -> None:
        """Store or replace one annotation of an object."""
        ...

    def delete_annotation(self, path: str, name: str) -> bool:
        """Delete one annotation; return False when the object had none of that name."""
        ...

    def list_annotations(self, path: str) -> list[str]:
        """Return the names of an object's annotations."""
        ...


def check_hash(path: str, hcp_hash: str, sha256: str, data: tuple[BinaryIO, int, int]) -> None:
    """Compare HCP's hash of a stored object with the hash of the data sent.

    HCP hashes with the namespace's algorithm; for another one than SHA-256 the data is read
    again from ``data`` and hashed with it. An algorithm this Python lacks is logged and not
    checked.

    :param hcp_hash: HCP's hash as it writes it (``X-HCP-Hash``), e.g. ``SHA-256 5D45...``
    :param sha256: the SHA-256 of the data sent, as hex
    :param data: a file holding the data sent, where the data starts in it, and its size
    :raises IntegrityError: when the hashes differ
    """
    expected = _expected_hash(path, hcp_hash, sha256, data)
    if expected is not None and expected.upper() != hcp_hash.upper():
        raise IntegrityError(path, expected, hcp_hash)


def _expected_hash(
    path: str, hcp_hash: str, sha256: str, data: tuple[BinaryIO, int, int]
) -> str | None:
    """Return our hash of the data in HCP's notation, or None when it cannot be computed."""
    scheme = hcp_hash.partition(" ")[0].upper()
    if scheme == "SHA-256":
        return f"SHA-256 {sha256.upper()}"
    try:
        digest = hashlib.new(scheme.replace("-", "").lower())  # SHA-1 is sha1, RIPEMD-160 ...
    except ValueError:
        digest = None
    if digest is None:
        log.warning("cannot check HCP's %r hash of %s: not available here", scheme, path)
        return None
    file, start, remaining = data
    file.seek(start)
    while remaining > 0 and (chunk := file.read(min(_CHUNK, remaining))):
        digest.update(chunk)
        remaining -= len(chunk)
    return f"{scheme} {digest.hexdigest().upper()}"
