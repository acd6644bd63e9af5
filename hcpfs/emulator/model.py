"""The data model of namespace content: versions, directories, annotations and time.

Metadata records are immutable: a change replaces a :class:`Version` or a :class:`DirState`,
so a reader holding one sees a consistent snapshot. Paths are object names without the
``/rest/`` prefix and without leading or trailing slashes; ``""`` is the root directory.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hcpfs.emulator import retention
from hcpfs.emulator.blobs import Blob
from hcpfs.emulator.errors import HcpError

MAX_NAME_BYTES = 4095
MAX_ANNOTATIONS = 10
RESERVED_NAMES = frozenset({".directory-metadata", ".lost+found"})
_ANNOTATION_NAME = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9._-]{1,32}$")


class Clock:
    """Time for the store: change ticks and version ids that only go forward.

    A change tick is ``epoch milliseconds * 100 + n``; HCP prints it as ``<ms>.<nn>``.

    :param source: where the current time comes from (tests may shift it)
    """

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._offset = 0.0
        self._last_change = 0
        self._last_version = 0

    def time(self) -> float:
        """Return the current time in epoch seconds."""
        return self._source() + self._offset

    def shift(self, seconds: float) -> None:
        """Move the clock forward (tests use it to let retention expire)."""
        self._offset += seconds

    def unshift(self) -> None:
        """Undo every :meth:`shift`; ids and ticks keep increasing."""
        self._offset = 0.0

    def change(self) -> int:
        """Return a new change tick, later than every one before."""
        with self._lock:
            self._last_change = max(self._last_change + 1, int(self.time() * 1000) * 100)
            return self._last_change

    def version_id(self) -> int:
        """Return a new version id, larger than every one before."""
        with self._lock:
            self._last_version = max(self._last_version + 1, int(self.time() * 1000) * 100)
            return self._last_version

    def catch_up(self, version_id: int, tick: int) -> None:
        """Make sure new ids and ticks come after ones loaded from a data directory."""
        with self._lock:
            self._last_version = max(self._last_version, version_id)
            self._last_change = max(self._last_change, tick)


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotation (custom metadata document) of a version.

    :param hash: the namespace hash of the bytes, upper-case hex
    :param xml: whether it was checked as XML when stored (``text/xml`` vs ``unknown``)
    """

    blob: Blob
    hash: str
    change: int
    xml: bool

    @property
    def size(self) -> int:
        """The annotation size in bytes."""
        return self.blob.size


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an object, or a delete marker when ``deleted`` is true."""

    id: int
    ingest_ms: int
    change: int
    deleted: bool = False
    blob: Blob | None = None
    etag: str = ""
    hash: str = ""
    content_type: str = "application/octet-stream"
    retention: retention.Setting = retention.NONE
    hold: bool = False
    labels: tuple[str, ...] = ()
    shred: bool = False
    index: bool = True
    owner: str = ""
    domain: str = ""
    annotations: Mapping[str, Annotation] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The data size in bytes (0 for a delete marker)."""
        return 0 if self.blob is None else self.blob.size

    @property
    def on_hold(self) -> bool:
        """Whether a plain or a labeled hold is set."""
        return self.hold or bool(self.labels)


@dataclass(frozen=True, slots=True)
class DirState:
    """What a directory looks like at one moment.

    :param created: change tick of its creation (or deletion, once deleted)
    :param latest: the latest tick of anything added to or deleted from its subtree
    """

    version_id: int
    created: int
    latest: int
    deleted: bool = False


class ObjectEntry:
    """An object name with its versions, oldest first."""

    __slots__ = ("path", "versions")
    kind = "object"

    def __init__(self, path: str, versions: list[Version]) -> None:
        self.path = path
        self.versions = versions

    @property
    def current(self) -> Version:
        """The newest version (possibly a delete marker)."""
        return self.versions[-1]

    @property
    def deleted(self) -> bool:
        """Whether the current version is a delete marker."""
        return self.versions[-1].deleted


class DirEntry:
    """A directory with its children by name."""

    __slots__ = ("children", "path", "state")
    kind = "directory"

    def __init__(self, path: str, state: DirState) -> None:
        self.path = path
        self.state = state
        self.children: dict[str, Entry] = {}

    @property
    def deleted(self) -> bool:
        """Whether the directory was deleted (kept only to show deleted content)."""
        return self.state.deleted


Entry = ObjectEntry | DirEntry


@dataclass
class Stats:
    """Counters of ``/proc/statistics``: versions stored (not delete markers) and bytes."""

    objects: int = 0
    bytes: int = 0
    annotated: int = 0
    annotation_bytes: int = 0

    def count(self, version: Version, sign: int) -> None:
        """Add (``sign`` 1) or remove (``sign`` -1) what one version contributes."""
        if version.deleted:
            return
        extra = sum(a.size for a in version.annotations.values())
        self.objects += sign
        self.bytes += sign * (version.size + extra)
        if version.annotations:
            self.annotated += sign
            self.annotation_bytes += sign * extra


@dataclass(frozen=True)
class ObjectOptions:
    """System metadata given when storing; ``None`` means the default or the inherited value.

    :param owner: the user who stores the object (empty for anonymous)
    """

    retention: str | None = None
    hold: bool | None = None
    labels: tuple[str, ...] | None = None
    shred: bool | None = None
    index: bool | None = None
    content_type: str = ""
    owner: str = ""


@dataclass(frozen=True)
class MetadataChange:
    """The system metadata a POST changes; ``None`` leaves a value alone.

    :param labels: labeled holds to set (``True``) or release (``False``)
    :param owner: a new owner, ``""`` for no owner
    """

    retention: str | None = None
    hold: bool | None = None
    labels: tuple[tuple[str, bool], ...] | None = None
    shred: bool | None = None
    index: bool | None = None
    owner: str | None = None
    domain: str = ""


Condition = Callable[[Version | None], None]


def split_path(path: str, *, writing: bool = False) -> str:
    """Normalise an object path: no empty, ``.`` or ``..`` components; names HCP reserves
    cannot be created.

    :param path: the decoded path after ``/rest/``
    :param writing: whether the request would create the name
    :raises HcpError: 400 for a name HCP refuses, 414 for one longer than 4,095 bytes
    """
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") or "\x00" in p for p in parts):
        raise HcpError(400, "invalid object name")
    if writing and any(p in RESERVED_NAMES for p in parts):
        raise HcpError(400, "the name is reserved by HCP")
    normal = "/".join(parts)
    if len(normal.encode("utf-8")) > MAX_NAME_BYTES:
        raise HcpError(414, "the object name is longer than 4095 bytes")
    return normal


def parent_of(path: str) -> str:
    """Return the directory path that contains ``path``."""
    return path.rpartition("/")[0]


def check_annotation_name(name: str) -> None:
    """Refuse an annotation name HCP does not allow.

    :raises HcpError: 400 unless 1-32 of ``A-Za-z0-9._-`` with at least one alphanumeric
    """
    if not _ANNOTATION_NAME.match(name):
        raise HcpError(400, f"invalid annotation name {name!r}")
