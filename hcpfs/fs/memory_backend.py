"""A backend that keeps a namespace in memory and follows HCP's rules, for tests.

It answers like HCP where the filesystem can tell: 409 on storing over an object without
versioning, 403 on deleting or versioning an object under retention or on hold, 403 on deleting
a non-empty directory, 413 over quota, 412 on a failed ``If-Match``, 416 on a range past the
end. Parent directories are created by stores, as HCP does. Tests can make the next requests
fail (:meth:`MemoryBackend.fail_next`, :meth:`MemoryBackend.disconnect_next`) or make a store
come back with a wrong hash (:meth:`MemoryBackend.corrupt_next_store`), and can count requests.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import itertools
import posixpath
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from hcpfs.fs.backend import (
    RETENTION_ALLOWED,
    RETENTION_PROHIBITED,
    RETENTION_UNSPECIFIED,
    SYMLINK_ANNOTATION,
    BackendConnectionError,
    BackendError,
    DirInfo,
    Entry,
    IntegrityError,
    NamespaceInfo,
    ObjectInfo,
    ObjectSettings,
    Statistics,
    SymlinkInfo,
)

MAX_ANNOTATIONS = 10
MAX_ANNOTATION_SIZE = 1024 * 1024
_SPECIAL_RETENTION = {
    "0": RETENTION_ALLOWED,
    "-0": RETENTION_ALLOWED,
    "deletion allowed": RETENTION_ALLOWED,
    "-1": RETENTION_PROHIBITED,
    "deletion prohibited": RETENTION_PROHIBITED,
    "-2": RETENTION_UNSPECIFIED,
    "initial unspecified": RETENTION_UNSPECIFIED,
}
_RETENTION_STRINGS = {
    RETENTION_ALLOWED: "Deletion Allowed",
    RETENTION_PROHIBITED: "Deletion Prohibited",
    RETENTION_UNSPECIFIED: "Initial Unspecified",
}
_OFFSET = re.compile(
    r"([RAN])?([+-]\d+y)?([+-]\d+M)?([+-]\d+w)?([+-]\d+d)?([+-]\d+h)?([+-]\d+m)?([+-]\d+s)?"
)
# Calendar units are approximated: this backend only needs "later" and "earlier" right.
_UNIT_SECONDS = {"y": 365 * 86400, "M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600}
_UNIT_SECONDS |= {"m": 60, "s": 1}
_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")


@dataclass
class _Object:
    data: bytes
    version_id: int
    ingest_time: float
    change_time: float
    retention: int = RETENTION_ALLOWED
    retention_class: str = ""
    hold: bool = False
    shred: bool = False
    index: bool = False
    annotations: dict[str, bytes] = field(default_factory=dict)
    symlink_target: str | None = None

    @functools.cached_property
    def etag(self) -> str:
        return hashlib.md5(self.data).hexdigest()

    @functools.cached_property
    def hash(self) -> str:
        return hcp_hash(self.data)

    def protected(self, now: float) -> bool:
        if self.hold or self.retention in (RETENTION_PROHIBITED, RETENTION_UNSPECIFIED):
            return True
        return self.retention > 0 and now < self.retention


@dataclass
class _Fault:
    request: str
    path: str | None
    remaining: int
    make: Callable[[str], Exception]


def hcp_hash(data: bytes) -> str:
    """Return the hash as HCP writes it: ``SHA-256 <UPPER HEX>``.

    :param data: the object's data
    """
    return "SHA-256 " + hashlib.sha256(data).hexdigest().upper()


class MemoryBackend:
    """An HCP namespace in memory.

    :param versioning: whether the namespace keeps versions
    :param capacity: the quota in bytes (413 beyond)
    :param default_retention: the retention new objects get, as an HCP expression
    :param privileged: whether the user may set holds (403 otherwise)
    :param retention_classes: class name to retention expression, for ``C+name``
    :param clock: wall-clock time in seconds
    """

    def __init__(
        self,
        *,
        name: str = "ns",
        versioning: bool = False,
        capacity: int = 1 << 40,
        default_retention: str = "0",
        privileged: bool = True,
        retention_classes: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.versioning = versioning
        self.capacity = capacity
        self.default_retention = default_retention
        self.privileged = privileged
        self.retention_classes = dict(retention_classes or {})
        self.requests: Counter[str] = Counter()
        self._clock = clock
        self._lock = threading.RLock()
        self._objects: dict[str, _Object] = {}
        self._old_versions: list[_Object] = []
        self._directories: set[str] = {"/"}
        self._faults: list[_Fault] = []
        self._corrupt = 0
        self._versions = itertools.count(97_450_013_608_321, 17)

    # -- fault injection and inspection for tests ----------------------------------------------

    def fail_next(
        self,
        request: str,
        status: int,
        message: str = "injected failure",
        *,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests of one kind fail with an HCP status, before any effect.

        :param request: a method name, e.g. ``store`` or ``delete``
        :param status: the status to answer
        :param path: only requests about this path, if given
        """
        self._add_fault(request, path, times, lambda p: BackendError(status, message, p))

    def disconnect_next(self, request: str, *, path: str | None = None, times: int = 1) -> None:
        """Make the next ``times`` requests of one kind fail as if HCP were unreachable.

        :param request: a method name
        :param path: only requests about this path, if given
        """
        self._add_fault(request, path, times, lambda p: BackendConnectionError("injected", p))

    def corrupt_next_store(self, times: int = 1) -> None:
        """Make the next stores keep data that differs from what was sent (one byte flipped).

        :param times: how many stores
        """
        with self._lock:
            self._corrupt += times

    def put_object(self, path: str, data: bytes, settings: ObjectSettings | None = None) -> None:
        """Create or replace an object directly, as another client would, without counting.

        :param path: the path
        :param data: the content
        :param settings: retention, hold, shred and index
        """
        with self._lock:
            self._objects.pop(path, None)
            self._make_parents(path)
            self._objects[path] = self._new_object(data, settings or ObjectSettings(), None)

    def put_native_symlink(self, path: str, target: str) -> None:
        """Create a symbolic link as HCP's NFS access would, without counting.

        :param path: the link
        :param target: what it points to
        """
        with self._lock:
            self._make_parents(path)
            link = self._new_object(b"", ObjectSettings(), None)
            link.symlink_target = target
            self._objects[path] = link

    def data_of(self, path: str) -> bytes | None:
        """Return the content of an object, or None.

        :param path: the path
        """
        with self._lock:
            obj = self._objects.get(path)
            return None if obj is None or obj.symlink_target is not None else obj.data

    def paths(self) -> list[str]:
        """Return every object and directory path (directories end with ``/``), sorted."""
        with self._lock:
            dirs = [d.rstrip("/") + "/" for d in self._directories]
            return sorted([*self._objects, *dirs])

    def annotations_of(self, path: str) -> dict[str, bytes]:
        """Return a copy of an object's annotations.

        :param path: the path
        """
        with self._lock:
            return dict(self._objects[path].annotations)

    # -- the backend interface -----------------------------------------------------------------

    def namespace_info(self) -> NamespaceInfo:
        """Return the namespace's settings."""
        with self._lock:
            self._enter("namespace_info", "/")
            return NamespaceInfo(self.name, self.versioning)

    def statistics(self) -> Statistics:
        """Return capacity, usage and object count."""
        with self._lock:
            self._enter("statistics", "/")
            count = len(self._objects) + len(self._old_versions)
            return Statistics(self.capacity, self._used(), count)

    def stat(self, path: str) -> Entry:
        """Describe one path."""
        with self._lock:
            self._enter("stat", path)
            return self._entry(path)

    def listdir(
        self, path: str, progress: Callable[[Sequence[Entry]], None] | None = None
    ) -> list[Entry]:
        """Return the immediate children of a directory (to ``progress`` in one batch)."""
        with self._lock:
            self._enter("listdir", path)
            if path not in self._directories:
                raise BackendError(404, "", path)
            prefix = path.rstrip("/") + "/"
            children = [
                p
                for p in itertools.chain(self._directories, self._objects)
                if p != "/" and posixpath.dirname(p) == path
            ]
            assert all(child.startswith(prefix) for child in children)
            entries = [self._entry(child) for child in sorted(children)]
        if progress is not None:
            progress(entries)
        return entries

    def read(self, path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        """Return a range of an object's data."""
        with self._lock:
            self._enter("read", path)
            obj = self._object(path)
            if if_match is not None and if_match != obj.etag:
                raise BackendError(412, "", path)
            if length <= 0 or offset >= len(obj.data):
                raise BackendError(416, "", path)
            return obj.data[offset : offset + length]

    def store(
        self,
        path: str,
        file: BinaryIO,
        size: int,
        sha256: str,
        settings: ObjectSettings | None = None,
    ) -> ObjectInfo:
        """Store an object or a new version."""
        data = file.read(size)
        with self._lock:
            self._enter("store", path)
            if len(data) != size:
                raise BackendError(503, "body shorter than Content-Length", path)
            stored = self._store_locked(path, data, settings)
        if stored.hash != f"SHA-256 {sha256.upper()}":
            raise IntegrityError(path, sha256.upper(), stored.hash)
        return stored

    def store_stream(
        self, path: str, chunks: Iterable[bytes], settings: ObjectSettings | None = None
    ) -> ObjectInfo:
        """Store what ``chunks`` yields; nothing when it raises (the request is abandoned)."""
        data = b"".join(chunks)
        with self._lock:
            self._enter("store", path)
            return self._store_locked(path, data, settings)

    def _store_locked(self, path: str, data: bytes, settings: ObjectSettings | None) -> ObjectInfo:
        previous = self._check_store(path, len(data))
        if self._corrupt:
            self._corrupt -= 1
            data = bytes([data[0] ^ 0xFF]) + data[1:] if data else b"\0"
        self._put(path, self._new_object(data, settings or ObjectSettings(), previous))
        return self._object_info(path, self._objects[path])

    def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object with its annotations."""
        with self._lock:
            self._enter("copy", target)
            original = self._object(source)
            if original.symlink_target is not None or SYMLINK_ANNOTATION in original.annotations:
                raise BackendError(400, "copy source is a symbolic link", source)
            previous = self._check_store(target, len(original.data))
            duplicate = self._new_object(original.data, ObjectSettings(), previous)
            duplicate.annotations = dict(original.annotations)
            self._put(target, duplicate)
            return self._object_info(target, duplicate)

    def delete(self, path: str) -> None:
        """Delete an object, a symbolic link or an empty directory."""
        with self._lock:
            self._enter("delete", path)
            self._delete(path)

    def rmdir(self, path: str) -> None:
        """Delete an empty directory (HCP has one DELETE for everything)."""
        with self._lock:
            self._enter("rmdir", path)
            self._delete(path)

    def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents."""
        with self._lock:
            self._enter("mkdir", path)
            if path in self._directories or path in self._objects:
                raise BackendError(409, "already exists", path)
            self._make_parents(path)
            self._directories.add(path)

    def symlink(self, path: str, target: str) -> None:
        """Create a symbolic link the way hcpfs stores one: an object with a marker annotation."""
        with self._lock:
            self._enter("symlink", path)
            data = target.encode("utf-8", "surrogateescape")
            previous = self._check_store(path, len(data))
            link = self._new_object(data, ObjectSettings(), previous)
            link.annotations[SYMLINK_ANNOTATION] = b""
            self._put(path, link)

    def set_metadata(self, path: str, settings: ObjectSettings) -> None:
        """Change retention, hold, shred or index of an object."""
        with self._lock:
            self._enter("set_metadata", path)
            obj = self._object(path)
            self._check_settings(path, obj, settings)
            if settings.retention is not None:
                obj.retention, obj.retention_class = self._retention(settings.retention, obj, path)
            obj.hold = obj.hold if settings.hold is None else settings.hold
            obj.shred = obj.shred if settings.shred is None else settings.shred
            obj.index = obj.index if settings.index is None else settings.index
            obj.change_time = self._clock()

    def get_annotation(self, path: str, name: str) -> bytes | None:
        """Return one annotation, or None."""
        with self._lock:
            self._enter("get_annotation", path)
            return self._object(path).annotations.get(name)

    def put_annotation(self, path: str, name: str, data: bytes) -> None:
        """Store or replace one annotation."""
        with self._lock:
            self._enter("put_annotation", path)
            obj = self._object(path)
            if not _ANNOTATION_NAME.fullmatch(name):
                raise BackendError(400, "invalid annotation name", path)
            if name not in obj.annotations and len(obj.annotations) >= MAX_ANNOTATIONS:
                raise BackendError(400, "too many annotations", path)
            if len(data) > MAX_ANNOTATION_SIZE:
                raise BackendError(413, "annotation too large", path)
            if name in obj.annotations and obj.protected(self._clock()):
                # The namespace default lets annotations be added, not replaced, under retention.
                raise BackendError(403, "object under retention", path)
            obj.annotations[name] = data
            obj.change_time = self._clock()

    def delete_annotation(self, path: str, name: str) -> bool:
        """Delete one annotation; False when absent."""
        with self._lock:
            self._enter("delete_annotation", path)
            obj = self._object(path)
            if name not in obj.annotations:
                return False
            if obj.protected(self._clock()):
                raise BackendError(403, "object under retention", path)
            del obj.annotations[name]
            return True

    def list_annotations(self, path: str) -> list[str]:
        """Return the names of an object's annotations."""
        with self._lock:
            self._enter("list_annotations", path)
            return sorted(self._object(path).annotations)

    # -- internals -----------------------------------------------------------------------------

    def _add_fault(
        self, request: str, path: str | None, times: int, make: Callable[[str], Exception]
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(request, path, times, make))

    def _enter(self, request: str, path: str) -> None:
        self.requests[request] += 1
        for fault in self._faults:
            if fault.request == request and fault.path in (None, path) and fault.remaining:
                fault.remaining -= 1
                raise fault.make(path)

    def _entry(self, path: str) -> Entry:
        if path in self._directories:
            return DirInfo(path, self._clock())
        obj = self._objects.get(path)
        if obj is None:
            raise BackendError(404, "", path)
        return self._info(path, obj)

    def _info(self, path: str, obj: _Object) -> Entry:
        if obj.symlink_target is not None:
            size = len(obj.symlink_target.encode("utf-8", "surrogateescape"))
            return SymlinkInfo(path, obj.symlink_target, size, obj.change_time)
        if SYMLINK_ANNOTATION in obj.annotations:
            return SymlinkInfo(path, None, len(obj.data), obj.change_time)
        return self._object_info(path, obj)

    def _object_info(self, path: str, obj: _Object) -> ObjectInfo:
        return ObjectInfo(
            path=path,
            size=len(obj.data),
            etag=obj.etag,
            hash=obj.hash,
            version_id=str(obj.version_id),
            ingest_time=obj.ingest_time,
            change_time=obj.change_time,
            retention=obj.retention,
            retention_string=_retention_string(obj.retention),
            retention_class=obj.retention_class,
            hold=obj.hold,
            shred=obj.shred,
            index=obj.index,
            annotations=tuple(sorted(obj.annotations)),
        )

    def _object(self, path: str) -> _Object:
        obj = self._objects.get(path)
        if obj is None:
            raise BackendError(404, "", path)
        return obj

    def _check_store(self, path: str, size: int) -> _Object | None:
        if path in self._directories:
            raise BackendError(409, "a directory has this name", path)
        for parent in _parents(path):
            if parent in self._objects:
                raise BackendError(409, f"{parent} is an object", path)
        previous = self._objects.get(path)
        if previous is not None and not self.versioning:
            raise BackendError(409, "object exists and versioning is off", path)
        if previous is not None and previous.protected(self._clock()):
            raise BackendError(403, "object under retention or on hold", path)
        if self._used() + size > self.capacity:
            raise BackendError(413, "namespace quota exceeded", path)
        return previous

    def _new_object(
        self, data: bytes, settings: ObjectSettings, previous: _Object | None
    ) -> _Object:
        now = self._clock()
        obj = _Object(data, next(self._versions), now, now)
        if previous is not None:
            # A new version inherits the system metadata of the one before, not its annotations.
            obj = replace(previous, data=data, version_id=obj.version_id, annotations={})
            obj.ingest_time = obj.change_time = now
        else:
            obj.retention, obj.retention_class = self._retention(self.default_retention, obj, "")
        if settings.hold and not self.privileged:
            raise BackendError(403, "hold needs the privileged permission", "")
        if settings.retention is not None:
            obj.retention, obj.retention_class = self._retention(settings.retention, obj, "")
        obj.hold = obj.hold if settings.hold is None else settings.hold
        obj.shred = obj.shred if settings.shred is None else settings.shred
        obj.index = obj.index if settings.index is None else settings.index
        return obj

    def _put(self, path: str, obj: _Object) -> None:
        previous = self._objects.get(path)
        if previous is not None:
            self._old_versions.append(previous)
        self._make_parents(path)
        self._objects[path] = obj

    def _delete(self, path: str) -> None:
        if path in self._directories:
            prefix = path.rstrip("/") + "/"
            if path == "/" or any(
                p.startswith(prefix) for p in itertools.chain(self._directories, self._objects)
            ):
                raise BackendError(403, "directory is not empty", path)
            self._directories.discard(path)
            return
        obj = self._object(path)
        if obj.protected(self._clock()):
            raise BackendError(403, "object under retention or on hold", path)
        del self._objects[path]
        if self.versioning:
            self._old_versions.append(obj)

    def _make_parents(self, path: str) -> None:
        self._directories.update(_parents(path))

    def _used(self) -> int:
        current = sum(len(obj.data) for obj in self._objects.values())
        return current + sum(len(obj.data) for obj in self._old_versions)

    def _check_settings(self, path: str, obj: _Object, settings: ObjectSettings) -> None:
        if settings.retention is not None and settings.hold is not None:
            raise BackendError(400, "retention and hold cannot change together", path)
        if settings.retention is not None and obj.hold:
            raise BackendError(400, "retention cannot change while on hold", path)
        if settings.shred is False and obj.shred:
            raise BackendError(400, "shred cannot be turned off", path)
        if settings.hold is not None and not self.privileged:
            raise BackendError(403, "hold needs the privileged permission", path)

    def _retention(self, expression: str, obj: _Object, path: str) -> tuple[int, str]:
        """Return the numeric retention and class that ``expression`` gives ``obj``, or 400."""
        text = expression.strip()
        retention_class = ""
        if text.startswith("C+"):
            retention_class = text[2:]
            if retention_class not in self.retention_classes:
                raise BackendError(400, f"no retention class {retention_class}", path)
            text = self.retention_classes[retention_class]
        value = self._retention_value(text, obj, path)
        _check_lengthens(obj.retention, value, path)
        return value, retention_class

    def _retention_value(self, text: str, obj: _Object, path: str) -> int:
        special = _SPECIAL_RETENTION.get(text.lower())
        if special is not None:
            return special
        if text.isdigit():
            return int(text)
        if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", text):
            parsed = time.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
            return calendar.timegm(parsed) - (parsed.tm_gmtoff or 0)
        match = _OFFSET.fullmatch(text)
        if match is None or not text:
            raise BackendError(400, f"invalid retention {text!r}", path)
        base = {"A": obj.ingest_time, "N": self._clock()}.get(match[1] or "A", obj.retention)
        seconds = 0
        for term in match.groups()[1:]:
            if term:
                seconds += int(term[:-1]) * _UNIT_SECONDS[term[-1]]
        return int(max(base, 0) + seconds)


def _check_lengthens(current: int, new: int, path: str) -> None:
    if current == new or current in (RETENTION_ALLOWED, RETENTION_UNSPECIFIED):
        return
    if current == RETENTION_PROHIBITED:
        raise BackendError(400, "retention is Deletion Prohibited", path)
    if new != RETENTION_PROHIBITED and new < current:
        raise BackendError(400, "retention can only be lengthened", path)


def _retention_string(retention: int) -> str:
    if retention in _RETENTION_STRINGS:
        return _RETENTION_STRINGS[retention]
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(retention))


def _parents(path: str) -> list[str]:
    parents = []
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        parents.append(parent)
        parent = posixpath.dirname(parent)
    return parents
