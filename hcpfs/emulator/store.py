"""The content of HCP namespaces: objects, versions, directories, annotations, retention.

Socket-free and thread-safe. Each namespace has its own lock; bodies are streamed into blobs
outside the lock and committed under it, after the state has been checked again. Refusals
raise :class:`~hcpfs.emulator.errors.HcpError` with the status HCP answers.

The records it keeps are those of :mod:`hcpfs.emulator.model`; a data directory records
them in the journal of :mod:`hcpfs.emulator.journal`.

Replication: every change to an object or a directory is reported to the store's observer as
a :class:`Change` that describes the entry after it (all versions of an object, the state of a
directory, or its removal). The other system's store takes it with
:meth:`NamespaceStore.apply`, which keeps version ids, ingest times, hashes and retention as
they are, so both systems hold the same object.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hcpfs.emulator import retention
from hcpfs.emulator.blobs import (
    Blob,
    Blobs,
    BlobWriter,
    FileBlob,
    FileBlobs,
    MemoryBlob,
    digest_of,
)
from hcpfs.emulator.config import NamespaceConfig, SystemConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.journal import (
    Journal,
    Record,
    dir_state,
    entry_record,
    version_from,
)
from hcpfs.emulator.model import (
    MAX_ANNOTATIONS,
    Annotation,
    Clock,
    Condition,
    DirEntry,
    DirState,
    Entry,
    MetadataChange,
    ObjectEntry,
    ObjectOptions,
    Stats,
    Version,
    check_annotation_name,
    parent_of,
    split_path,
)
from hcpfs.emulator.xmlcheck import XmlChecker

log = logging.getLogger(__name__)

MAX_LABELS = 100
MAX_LABEL_LENGTH = 64
_GIB = 1024**3
_MIB = 1024**2


@dataclass(frozen=True)
class Change:
    """An object or a directory as it is after one change, for replication.

    :param path: the object or directory
    :param versions: every version of the object, oldest first (for an object)
    :param directory: the state of the directory (for a directory)
    :param size: the bytes of data and annotations the change added
    """

    path: str
    versions: tuple[Version, ...] | None = None
    directory: DirState | None = None
    size: int = 0

    @property
    def removed(self) -> bool:
        """Whether the entry was removed (neither versions nor a directory state)."""
        return self.versions is None and self.directory is None


Observer = Callable[["NamespaceStore", Change], None]
"""Called with the namespace and each change, under the namespace's lock: keep it short."""


class NamespaceStore:
    """The content of one namespace.

    :param tenant: the tenant name
    :param config: the namespace settings (read at every operation, so they may change)
    :param blobs: where bytes go
    :param clock: time source
    :param journal: where changes are recorded, ``None`` in memory mode
    :param max_object_size: objects larger than this get 413
    :param observer: told about every change, for replication
    """

    def __init__(
        self,
        tenant: str,
        config: NamespaceConfig,
        *,
        blobs: Blobs,
        clock: Clock,
        journal: Journal | None = None,
        max_object_size: int = 2 * 1024**4,
        observer: Observer | None = None,
    ) -> None:
        self.tenant = tenant
        self.config = config
        self.key = f"{tenant}/{config.name}".lower()
        self._blobs = blobs
        self._clock = clock
        self._journal = journal
        self._max_size = max_object_size
        self._observer = observer
        # Set while a replicated change is applied, so that it is not reported back.
        self._applying = False
        self._lock = threading.RLock()
        self._writing: dict[str, int] = {}
        self.stats = Stats()
        tick = clock.change()
        self._entries: dict[str, Entry] = {
            "": DirEntry("", DirState(clock.version_id(), tick, tick))
        }

    # ---- reading -------------------------------------------------------------------------

    def find(self, path: str) -> Entry | None:
        """Return the entry at ``path`` (object or directory), deleted or not."""
        return self._entries.get(path)

    def current(self, path: str) -> Version:
        """Return the current version of the object at ``path``.

        :raises HcpError: 404 when there is no such object or its current version is deleted
        """
        entry = self._entries.get(path)
        if not isinstance(entry, ObjectEntry) or entry.deleted:
            raise HcpError(404, "object not found")
        return entry.current

    def version(self, path: str, version_id: int) -> Version:
        """Return version ``version_id`` of the object at ``path`` (possibly a marker).

        :raises HcpError: 404 when the object or the version does not exist
        """
        entry = self._entries.get(path)
        if isinstance(entry, ObjectEntry):
            for version in reversed(entry.versions):
                if version.id == version_id:
                    return version
        raise HcpError(404, "version not found")

    def versions(self, path: str) -> list[Version]:
        """Return all versions of the object at ``path``, oldest first (including markers).

        :raises HcpError: 404 when no object has that name
        """
        with self._lock:
            entry = self._entries.get(path)
            if not isinstance(entry, ObjectEntry):
                raise HcpError(404, "object not found")
            return list(entry.versions)

    def listing(
        self, path: str, show_deleted: bool
    ) -> tuple[DirState, list[tuple[str, Version | DirState]]]:
        """Return a directory's state and its children sorted by name.

        :param path: the directory
        :param show_deleted: include deleted objects and directories
        :raises HcpError: 404 when there is no such (visible) directory
        """
        with self._lock:
            entry = self._entries.get(path)
            if not isinstance(entry, DirEntry) or (entry.deleted and not show_deleted):
                raise HcpError(404, "directory not found")
            children: list[tuple[str, Version | DirState]] = []
            for name in sorted(entry.children):
                child = entry.children[name]
                if show_deleted or not child.deleted:
                    info = child.current if isinstance(child, ObjectEntry) else child.state
                    children.append((name, info))
            return entry.state, children

    def now(self) -> int:
        """The current time in epoch seconds, as retention sees it."""
        return int(self._clock.time())

    def effective_retention(self, version: Version) -> int:
        """Return the retention value in force for a version (classes evaluated now)."""
        return retention.effective(
            version.retention, version.ingest_ms // 1000, self.config.class_values()
        )

    def under_retention(self, version: Version) -> bool:
        """Whether retention forbids deleting the version now."""
        return retention.blocks_delete(self.effective_retention(version), self.now())

    # ---- storing -------------------------------------------------------------------------

    def put_object(
        self,
        path: str,
        body: Iterable[bytes | memoryview],
        options: ObjectOptions,
        *,
        length: int | None = None,
        condition: Condition | None = None,
        annotation: tuple[str, Iterable[bytes | memoryview]] | None = None,
    ) -> Version:
        """Store an object, or a new version of it when versioning is on.

        :param path: the object name
        :param body: the data, in pieces
        :param options: system metadata given with the request
        :param length: the announced size, when known (checked against the quota early)
        :param condition: called with the current version (or ``None``) under the lock
        :param annotation: a name and the bytes of an annotation stored along (whole-object)
        :raises HcpError: 409, 403, 412, 413 ... as HCP answers
        """
        path = split_path(path, writing=True)
        if not path:
            raise HcpError(409, "the root directory exists")
        if annotation is not None:
            check_annotation_name(annotation[0])
        with self._lock:
            self._check_put(path, condition)
            if length is not None:
                self._check_space(length)
            self._writing[path] = self._writing.get(path, 0) + 1
        notes: dict[str, Annotation] = {}
        failure: HcpError | None = None
        try:
            data = self._receive(body, self._max_size, size_hint=length)
            if annotation is not None:
                try:
                    notes = {annotation[0]: self._receive_note(annotation[0], annotation[1])}
                except HcpError as exc:
                    if exc.status != 400:
                        self._blobs.discard(data[0])
                        raise
                    failure = exc
        finally:
            self._done_writing(path)
        return self._commit_or_empty(
            path, data, options, notes, condition=condition, failure=failure
        )

    def copy_object(
        self,
        path: str,
        source: Version,
        source_scheme: str,
        options: ObjectOptions,
        *,
        with_annotations: bool,
        condition: Condition | None = None,
    ) -> Version:
        """Store a copy of ``source`` (a version of any namespace of the tenant) at ``path``.

        :param source_scheme: the hash scheme of the source namespace
        :param with_annotations: copy the annotations too (``X-HCP-MetadataDirective: ALL``)
        :raises HcpError: as :meth:`put_object`; 400 when copied annotations fail the XML check
        """
        path = split_path(path, writing=True)
        assert source.blob is not None
        with self._lock:
            self._check_put(path, condition)
            self._check_space(source.size)
        scheme = self.config.hash_scheme
        blob = self._blobs.clone(source.blob)
        etag, digest = source.etag, source.hash
        if scheme != source_scheme:
            etag, digest = digest_of(blob, scheme)
        data = (blob, etag, digest, source.content_type)
        notes: dict[str, Annotation] = {}
        failure: HcpError | None = None
        try:
            if with_annotations:
                for name, note in source.annotations.items():
                    notes[name] = self._copy_annotation(name, note, source_scheme)
        except HcpError as exc:
            failure = exc
        return self._commit_or_empty(
            path, data, options, notes, condition=condition, failure=failure
        )

    def make_directory(self, path: str) -> DirState:
        """Create a directory and any missing parents.

        :raises HcpError: 409 when the name exists
        """
        path = split_path(path, writing=True)
        with self._lock:
            entry = self._entries.get(path)
            if path == "" or (entry is not None and not entry.deleted):
                raise HcpError(409, "an object or directory with this name exists")
            if isinstance(entry, ObjectEntry):
                raise HcpError(409, "a deleted object with this name exists")
            self._check_parents(path)
            tick = self._clock.change()
            state = self._ensure_directory(path, tick)
            self._touch(parent_of(path), tick)
            return state

    def delete(self, path: str, *, privileged: bool = False, purge: bool = False) -> None:
        """Delete an object (a delete marker with versioning), purge it, or delete a directory.

        :param privileged: delete despite retention (enterprise mode only)
        :param purge: remove every version
        :raises HcpError: 404, 403 (retention, hold, non-empty directory), 409
        """
        path = split_path(path)
        with self._lock:
            entry = self._entries.get(path)
            if isinstance(entry, DirEntry):
                self._delete_directory(entry)
                return
            if entry is None or (entry.deleted and not purge):
                raise HcpError(404, "object not found")
            if path in self._writing:
                raise HcpError(409, "the object is being written")
            checked = entry.versions if purge else [entry.current]
            for version in checked:
                self._check_deletable(version, privileged)
            if purge or not self.config.versioning:
                self._remove(entry)
            else:
                self._add_marker(entry)

    def set_metadata(self, path: str, change: MetadataChange) -> Version:
        """Change the system metadata of the current version (owner: of every version).

        :raises HcpError: 404, or 400 for every change HCP refuses
        """
        path = split_path(path)
        with self._lock:
            entry = self._entries.get(path)
            if isinstance(entry, DirEntry) and not entry.deleted:
                raise HcpError(400, "system metadata can only be changed on objects")
            current = self.current(path)
            assert isinstance(entry, ObjectEntry)
            updates = self._metadata_updates(current, change)
            updates["change"] = self._clock.change()
            entry.versions[-1] = replace(current, **updates)
            if change.owner is not None:
                entry.versions[:-1] = [
                    replace(v, owner=change.owner, domain=change.domain)
                    for v in entry.versions[:-1]
                ]
            self._record(entry)
            self._notify(Change(path, tuple(entry.versions)))
            return entry.current

    def put_annotation(self, path: str, name: str, body: Iterable[bytes | memoryview]) -> Version:
        """Store or replace annotation ``name`` of the current version.

        :raises HcpError: 400 bad name, 11th annotation or bad XML; 403 retention policy;
            404 no object; 413 too large
        """
        path = split_path(path)
        check_annotation_name(name)
        with self._lock:
            self._check_annotation_write(self.current(path), name)
        note = self._receive_note(name, body)
        try:
            with self._lock:
                current = self.current(path)
                self._check_annotation_write(current, name)
                self._check_space(note.size)
                notes = dict(current.annotations)
                old = notes.get(name)
                notes[name] = note
                return self._replace_notes(path, current, notes, old)
        except BaseException:
            self._blobs.discard(note.blob)
            raise

    def delete_annotation(self, path: str, name: str) -> bool:
        """Delete annotation ``name``; return False when the version did not have it.

        :raises HcpError: 404 no object; 403 when the retention policy forbids it
        """
        path = split_path(path)
        check_annotation_name(name)
        with self._lock:
            current = self.current(path)
            old = current.annotations.get(name)
            if old is None:
                return False
            policy = self.config.annotations_under_retention
            if policy != "all" and (current.on_hold or self.under_retention(current)):
                raise HcpError(403, "annotations of objects under retention cannot be deleted")
            notes = {k: v for k, v in current.annotations.items() if k != name}
            self._replace_notes(path, current, notes, old)
            return True

    def clear(self) -> None:
        """Forget every object and directory (blobs and journal are the caller's)."""
        with self._lock:
            self._entries = {"": self._new_directory("")}
            self.stats = Stats()

    # ---- put helpers ---------------------------------------------------------------------

    def _check_put(self, path: str, condition: Condition | None) -> None:
        entry = self._entries.get(path)
        if isinstance(entry, DirEntry) and not entry.deleted:
            raise HcpError(409, "a directory with this name exists")
        if isinstance(entry, DirEntry):
            raise HcpError(409, "a deleted directory with this name exists")
        self._check_parents(path)
        current = entry.current if entry is not None and not entry.deleted else None
        if condition is not None:
            condition(current)
        if current is not None:
            if not self.config.versioning:
                raise HcpError(409, "the object exists and versioning is off")
            if current.on_hold:
                raise HcpError(403, "the object is on hold")
            if self.under_retention(current):
                raise HcpError(403, "the object is under retention")
        if not self.config.versioning and path in self._writing:
            raise HcpError(409, "the object is being written")

    def _check_parents(self, path: str) -> None:
        parent = parent_of(path)
        while parent:
            if isinstance(self._entries.get(parent), ObjectEntry):
                raise HcpError(409, f"{parent!r} is an object, not a directory")
            parent = parent_of(parent)

    def _check_space(self, size: int) -> None:
        if size > self._max_size:
            raise HcpError(413, "the object is larger than the maximum object size")
        if self.stats.bytes + size > self.config.hard_quota_bytes:
            raise HcpError(413, "the namespace has not enough space for this object")

    def _receive(
        self,
        body: Iterable[bytes | memoryview],
        limit: int,
        checker: XmlChecker | None = None,
        size_hint: int | None = None,
    ) -> tuple[Blob, str, str, str]:
        hint = size_hint if size_hint is not None and size_hint <= limit else None
        writer: BlobWriter = self._blobs.writer(self.config.hash_scheme, hint)
        try:
            for chunk in body:
                writer.write(chunk)
                if checker is not None:
                    checker.feed(chunk)
                if writer.size > limit:
                    raise HcpError(413, "the data is larger than allowed")
                if self.stats.bytes + writer.size > self.config.hard_quota_bytes:
                    raise HcpError(413, "the namespace has not enough space for this object")
            blob = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return blob, writer.etag, writer.hash, ""

    def _receive_note(self, name: str, body: Iterable[bytes | memoryview]) -> Annotation:
        xml = self.config.xml_checking
        limit = _GIB if name == "default" or not xml else _MIB
        checker = XmlChecker() if xml else None
        blob, _, digest, _ = self._receive(body, limit, checker)
        if checker is not None:
            try:
                checker.close()
            except HcpError:
                self._blobs.discard(blob)
                raise
        return Annotation(blob, digest, self._clock.change(), xml)

    def _commit_or_empty(
        self,
        path: str,
        data: tuple[Blob, str, str, str],
        options: ObjectOptions,
        notes: dict[str, Annotation],
        *,
        condition: Condition | None,
        failure: HcpError | None,
    ) -> Version:
        """Commit a new version; after a failed annotation, commit an empty object and fail.

        HCP keeps an empty object when an annotation stored along with the data (whole-object
        PUT, or a copy with all metadata) is refused by the XML check.
        """
        if failure is not None:
            for note in notes.values():
                self._blobs.discard(note.blob)
            self._blobs.discard(data[0])
            notes = {}
            data = self._receive((), self._max_size)
        try:
            version = self._commit(path, data, options, notes, condition)
        except BaseException:
            for blob in [data[0], *(n.blob for n in notes.values())]:
                self._blobs.discard(blob)
            raise
        if failure is not None:
            raise failure
        return version

    def _copy_annotation(self, name: str, note: Annotation, source_scheme: str) -> Annotation:
        if self.config.xml_checking:
            checker = XmlChecker()
            for chunk in note.blob.chunks():
                checker.feed(chunk)
            checker.close()
        blob = self._blobs.clone(note.blob)
        digest = note.hash
        if source_scheme != self.config.hash_scheme:
            digest = digest_of(blob, self.config.hash_scheme)[1]
        return Annotation(blob, digest, self._clock.change(), self.config.xml_checking)

    def _commit(
        self,
        path: str,
        data: tuple[Blob, str, str, str],
        options: ObjectOptions,
        notes: dict[str, Annotation],
        condition: Condition | None,
    ) -> Version:
        with self._lock:
            self._check_put(path, condition)
            self._check_space(data[0].size + sum(n.size for n in notes.values()))
            entry = self._entries.get(path)
            previous = None
            if isinstance(entry, ObjectEntry) and not entry.deleted:
                previous = entry.current
            version = self._new_version(options, previous, data, notes)
            if not version.content_type:
                version = replace(version, content_type=_guess_type(path))
            self._add_version(path, version)
            return version

    def _new_version(
        self,
        options: ObjectOptions,
        previous: Version | None,
        data: tuple[Blob, str, str, str],
        notes: dict[str, Annotation],
    ) -> Version:
        now_ms = int(self._clock.time() * 1000)
        now = now_ms // 1000
        context = retention.Context(now, now, self.config.class_values())
        if options.retention is not None:
            setting = retention.parse(options.retention, context)
        elif previous is not None:
            setting = previous.retention
        else:
            setting = retention.parse(self.config.retention_default, context)
            if not setting.klass and 0 < setting.value < now:
                setting = retention.Setting(retention.ALLOWED)
        base = previous or Version(
            0, 0, 0, shred=self.config.shred_default, index=self.config.index_default
        )
        return Version(
            id=self._clock.version_id(),
            ingest_ms=now_ms,
            change=self._clock.change(),
            retention=setting,
            hold=base.hold if options.hold is None else options.hold,
            labels=base.labels if options.labels is None else options.labels,
            shred=base.shred if options.shred is None else options.shred,
            index=base.index if options.index is None else options.index,
            owner=options.owner,
            blob=data[0],
            etag=data[1],
            hash=data[2],
            content_type=data[3] or options.content_type,
            annotations=notes,
        )

    def _add_version(self, path: str, version: Version) -> None:
        entry = self._entries.get(path)
        if entry is None:
            self._ensure_directory(parent_of(path), version.change)
            entry = ObjectEntry(path, [version])
            self._entries[path] = entry
            self._parent(path).children[path.rpartition("/")[2]] = entry
        else:
            assert isinstance(entry, ObjectEntry)
            entry.versions.append(version)
        self.stats.count(version, 1)
        self._touch(parent_of(path), version.change)
        self._record(entry)
        added = version.size + sum(note.size for note in version.annotations.values())
        self._notify(Change(path, tuple(entry.versions), size=added))

    def _done_writing(self, path: str) -> None:
        with self._lock:
            left = self._writing.get(path, 1) - 1
            if left > 0:
                self._writing[path] = left
            else:
                self._writing.pop(path, None)

    # ---- other helpers -------------------------------------------------------------------

    def _new_directory(self, path: str) -> DirEntry:
        tick = self._clock.change()
        return DirEntry(path, DirState(self._clock.version_id(), tick, tick))

    def _parent(self, path: str) -> DirEntry:
        parent = self._entries[parent_of(path)]
        assert isinstance(parent, DirEntry)
        return parent

    def _ensure_directory(self, path: str, tick: int) -> DirState:
        """Create ``path`` and its missing (or deleted) parents, top down."""
        missing = []
        cursor = path
        while True:
            entry = self._entries.get(cursor)
            if isinstance(entry, DirEntry) and not entry.deleted:
                break
            missing.append(cursor)
            if not cursor:
                break
            cursor = parent_of(cursor)
        for target in reversed(missing):
            state = DirState(self._clock.version_id(), tick, tick)
            entry = self._entries.get(target)
            if isinstance(entry, DirEntry):
                entry.state = state
            else:
                entry = DirEntry(target, state)
                self._entries[target] = entry
                self._parent(target).children[target.rpartition("/")[2]] = entry
            self._record(entry)
            self._notify(Change(target, directory=state))
        found = self._entries[path]
        assert isinstance(found, DirEntry)
        return found.state

    def _touch(self, path: str, tick: int) -> None:
        """Record that something was added to or deleted from directory ``path`` at ``tick``."""
        entry = self._entries[path]
        assert isinstance(entry, DirEntry)
        entry.state = replace(entry.state, latest=max(entry.state.latest, tick))
        self._record(entry)
        while path:
            path = parent_of(path)
            parent = self._entries[path]
            assert isinstance(parent, DirEntry)
            parent.state = replace(parent.state, latest=max(parent.state.latest, tick))

    def _check_deletable(self, version: Version, privileged: bool) -> None:
        if version.deleted:
            return
        if version.on_hold:
            raise HcpError(403, "the object is on hold")
        if not self.under_retention(version):
            return
        if not privileged:
            raise HcpError(403, "the object is under retention")
        if self.config.retention_mode != "enterprise":
            raise HcpError(403, "privileged delete is not possible in compliance mode")

    def _remove(self, entry: ObjectEntry) -> None:
        del self._entries[entry.path]
        del self._parent(entry.path).children[entry.path.rpartition("/")[2]]
        for version in entry.versions:
            self.stats.count(version, -1)
            self._discard(version)
        self._touch(parent_of(entry.path), self._clock.change())
        self._record_removal(entry.path)
        self._notify(Change(entry.path))

    def _discard(self, version: Version) -> None:
        if version.blob is not None:
            self._blobs.discard(version.blob, version.shred)
        for note in version.annotations.values():
            self._blobs.discard(note.blob, version.shred)

    def _add_marker(self, entry: ObjectEntry) -> None:
        current = entry.current
        marker = Version(
            id=self._clock.version_id(),
            ingest_ms=int(self._clock.time() * 1000),
            change=self._clock.change(),
            deleted=True,
            content_type=current.content_type,
            retention=current.retention,
            shred=current.shred,
            index=current.index,
            owner=current.owner,
            domain=current.domain,
        )
        entry.versions.append(marker)
        self._touch(parent_of(entry.path), marker.change)
        self._record(entry)
        self._notify(Change(entry.path, tuple(entry.versions)))

    def _delete_directory(self, entry: DirEntry) -> None:
        if entry.path == "":
            raise HcpError(403, "the root directory cannot be deleted")
        if entry.deleted:
            raise HcpError(404, "directory not found")
        if any(not child.deleted for child in entry.children.values()):
            raise HcpError(403, "the directory is not empty")
        tick = self._clock.change()
        if entry.children or self.config.versioning:
            entry.state = replace(entry.state, created=tick, latest=tick, deleted=True)
            self._record(entry)
            self._notify(Change(entry.path, directory=entry.state))
        else:
            self._unlink_directory(entry)
            self._notify(Change(entry.path))
        self._touch(parent_of(entry.path), tick)

    def _unlink_directory(self, entry: DirEntry) -> None:
        del self._entries[entry.path]
        del self._parent(entry.path).children[entry.path.rpartition("/")[2]]
        self._record_removal(entry.path)

    def _metadata_updates(self, current: Version, change: MetadataChange) -> dict[str, Any]:
        holds = change.hold is not None or change.labels is not None
        if change.retention is not None and holds:
            raise HcpError(400, "retention and hold cannot change in the same request")
        others = (change.retention, change.shred, change.index, change.owner)
        if current.on_hold and any(v is not None for v in others):
            raise HcpError(400, "the object is on hold; release the hold first")
        updates: dict[str, Any] = {}
        if change.retention is not None:
            updates["retention"] = self._new_retention(current, change.retention)
        if change.shred is not None:
            if current.shred and not change.shred:
                raise HcpError(400, "shred cannot be turned off once set")
            updates["shred"] = change.shred
        if change.index is not None:
            updates["index"] = change.index
        if change.hold is not None:
            updates["hold"] = change.hold
        if change.labels is not None:
            updates["labels"] = _apply_labels(current.labels, change.labels)
        if change.owner is not None:
            updates["owner"], updates["domain"] = change.owner, change.domain
        return updates

    def _new_retention(self, current: Version, expression: str) -> retention.Setting:
        context = retention.Context(
            self.now(), current.ingest_ms // 1000, self.config.class_values()
        )
        new = retention.parse(expression, context, current.retention)
        retention.check_change(current.retention, new, context, on_hold=current.on_hold)
        return new

    def _check_annotation_write(self, current: Version, name: str) -> None:
        if name not in current.annotations and len(current.annotations) >= MAX_ANNOTATIONS:
            raise HcpError(400, "an object can have at most 10 annotations")
        if not (current.on_hold or self.under_retention(current)):
            return
        policy = self.config.annotations_under_retention
        if policy == "none" or (policy == "add" and name in current.annotations):
            raise HcpError(403, "the namespace forbids this annotation change under retention")

    def _replace_notes(
        self, path: str, current: Version, notes: dict[str, Annotation], old: Annotation | None
    ) -> Version:
        entry = self._entries[path]
        assert isinstance(entry, ObjectEntry)
        self.stats.count(current, -1)
        updated = replace(current, annotations=notes, change=self._clock.change())
        entry.versions[-1] = updated
        self.stats.count(updated, 1)
        if old is not None:
            self._blobs.discard(old.blob, current.shred)
        self._record(entry)
        added = sum(n.size for k, n in notes.items() if current.annotations.get(k) is not n)
        self._notify(Change(path, tuple(entry.versions), size=added))
        return updated

    # ---- replication ---------------------------------------------------------------------

    def _notify(self, change: Change) -> None:
        if self._observer is not None and not self._applying:
            self._observer(self, change)

    def apply(self, change: Change) -> None:
        """Make an entry what another system reports it to be after a change there.

        The versions keep their ids, times, hashes and metadata; the bytes are copied into
        this store. Versions of an object that only this system has are kept (without
        versioning the newest version wins). A change whose bytes are gone on the other
        system was overtaken by a later change and is skipped.

        :param change: the entry as the other system has it
        """
        with self._lock:
            self._applying = True
            try:
                if change.versions is not None:
                    self._apply_object(change.path, change.versions)
                elif change.directory is not None:
                    self._apply_directory(change.path, change.directory)
                else:
                    self._apply_removal(change.path)
            except FileNotFoundError:
                log.debug("%s: replicated change of %r was overtaken", self.key, change.path)
            finally:
                self._applying = False

    def _apply_object(self, path: str, versions: Sequence[Version]) -> None:
        entry = self._entries.get(path)
        if isinstance(entry, DirEntry):
            if not entry.deleted or entry.children:
                log.warning(
                    "%s: %r is a directory here; replicated object skipped", self.key, path
                )
                return
            self._unlink_directory(entry)
            entry = None
        old = list(entry.versions) if entry is not None else []
        merged = {version.id: version for version in old}
        for version in versions:
            merged[version.id] = self._adopt_version(version, merged.get(version.id))
        kept = sorted(merged.values(), key=lambda version: version.id)
        if not self.config.versioning:
            kept = kept[-1:]
        self._release(old + list(merged.values()), kept)
        for version in old:
            self.stats.count(version, -1)
        for version in kept:
            self.stats.count(version, 1)
            self._clock.catch_up(version.id, version.change)
        if entry is None:
            self._ensure_directory(parent_of(path), kept[-1].change)
            entry = ObjectEntry(path, kept)
            self._entries[path] = entry
            self._parent(path).children[path.rpartition("/")[2]] = entry
        entry.versions = kept
        self._touch(parent_of(path), kept[-1].change)
        self._record(entry)

    def _adopt_version(self, version: Version, mine: Version | None) -> Version:
        """Return ``version`` with its bytes in this store, reusing what ``mine`` has."""
        if mine is not None and mine.blob is not None:
            blob: Blob | None = mine.blob  # the data of a version never changes
        else:
            blob = None if version.blob is None else self._adopt(version.blob)
        notes = {}
        for name, note in version.annotations.items():
            own = mine.annotations.get(name) if mine is not None else None
            if own is not None and (own.hash, own.change) == (note.hash, note.change):
                notes[name] = own
            else:
                notes[name] = replace(note, blob=self._adopt(note.blob))
        return replace(version, blob=blob, annotations=notes)

    def _adopt(self, blob: Blob) -> Blob:
        """Copy another store's blob into this one (memory blobs are shared, not copied)."""
        if not isinstance(self._blobs, FileBlobs):
            return blob if isinstance(blob, MemoryBlob) else MemoryBlob(blob.read())
        if isinstance(blob, FileBlob):
            key = uuid.uuid4().hex
            target = self._blobs.path_of(key)
            target.parent.mkdir(exist_ok=True)
            try:
                os.link(blob.path, target)
            except FileNotFoundError:
                raise  # the other store discarded it: a later change follows
            except OSError:
                shutil.copyfile(blob.path, target)  # another file system
            return FileBlob(key, blob.size, target)
        writer = self._blobs.writer(self.config.hash_scheme, blob.size)
        for chunk in blob.chunks():
            writer.write(chunk)
        return writer.commit()

    def _release(self, before: Iterable[Version], after: Iterable[Version]) -> None:
        """Discard the blobs of ``before`` that no version of ``after`` holds."""
        kept = {id(v.blob) for v in after} | {
            id(n.blob) for v in after for n in v.annotations.values()
        }
        seen: set[int] = set()
        for version in before:
            blobs = [version.blob, *(n.blob for n in version.annotations.values())]
            for blob in blobs:
                if blob is not None and id(blob) not in kept and id(blob) not in seen:
                    seen.add(id(blob))
                    self._blobs.discard(blob, version.shred)

    def _apply_directory(self, path: str, state: DirState) -> None:
        entry = self._entries.get(path)
        if not path or isinstance(entry, ObjectEntry):
            if path:
                log.warning(
                    "%s: %r is an object here; replicated directory skipped", self.key, path
                )
            return
        self._clock.catch_up(state.version_id, max(state.created, state.latest))
        if isinstance(entry, DirEntry):
            if state.deleted and any(not child.deleted for child in entry.children.values()):
                return  # this system stored something in it since
            entry.state = replace(state, latest=max(state.latest, entry.state.latest))
        else:
            self._ensure_directory(parent_of(path), state.created)
            entry = DirEntry(path, state)
            self._entries[path] = entry
            self._parent(path).children[path.rpartition("/")[2]] = entry
        self._touch(parent_of(path), state.created)
        self._record(entry)

    def _apply_removal(self, path: str) -> None:
        entry = self._entries.get(path)
        if isinstance(entry, ObjectEntry):
            self._remove(entry)
        elif isinstance(entry, DirEntry) and path and not entry.children:
            self._unlink_directory(entry)
            self._touch(parent_of(path), self._clock.change())

    # ---- persistence ---------------------------------------------------------------------

    def _record(self, entry: Entry) -> None:
        if self._journal is not None:
            self._journal.append(entry_record(self.key, entry))

    def _record_removal(self, path: str) -> None:
        if self._journal is not None:
            self._journal.append({"ns": self.key, "p": path, "gone": True})

    def load(self, records: Iterable[Record]) -> None:
        """Rebuild the content from the last journal record of each entry."""
        with self._lock:
            for record in records:
                path = record["p"]
                if "d" in record:
                    self._entries[path] = DirEntry(path, dir_state(record["d"]))
                elif "o" in record:
                    versions = [version_from(v, self._blobs.restore) for v in record["o"]]
                    self._entries[path] = ObjectEntry(path, versions)
            for path in sorted(self._entries, key=lambda p: p.count("/") if p else -1):
                if path:
                    self._attach(path)
            self._settle()

    def _attach(self, path: str) -> None:
        """Link a loaded entry into its parent, creating parents the journal lacks."""
        child = path
        while child:
            parent = parent_of(child)
            known = isinstance(self._entries.get(parent), DirEntry)
            if not known:
                self._entries[parent] = self._new_directory(parent)
            self._parent(child).children[child.rpartition("/")[2]] = self._entries[child]
            if known:
                return
            child = parent

    def _settle(self) -> None:
        """Recount statistics and let directory times include their subtree after a load."""
        self.stats = Stats()
        for path in sorted(self._entries, key=lambda p: -p.count("/") if p else 1):
            entry = self._entries[path]
            if isinstance(entry, ObjectEntry):
                for version in entry.versions:
                    self.stats.count(version, 1)
                    self._clock.catch_up(version.id, version.change)
            if path and isinstance(entry, DirEntry):
                # Only the parent of a change is journaled; its ancestors learn it here.
                parent = self._parent(path)
                latest = max(parent.state.latest, entry.state.latest)
                parent.state = replace(parent.state, latest=latest)

    def records(self) -> Iterator[Record]:
        """Yield one journal record per entry (a compact journal)."""
        with self._lock:
            for entry in list(self._entries.values()):
                yield entry_record(self.key, entry)


def _apply_labels(
    labels: tuple[str, ...], changes: tuple[tuple[str, bool], ...]
) -> tuple[str, ...]:
    result = list(labels)
    for label, hold in changes:
        if not 1 <= len(label) <= MAX_LABEL_LENGTH:
            raise HcpError(400, "a hold label has 1 to 64 characters")
        if hold and label not in result:
            result.append(label)
        elif not hold and label in result:
            result.remove(label)
    if len(result) > MAX_LABELS:
        raise HcpError(400, "an object can have at most 100 labeled holds")
    return tuple(result)


def _guess_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


class Store:
    """The namespaces of one system, in memory or in a data directory.

    :param config: the system configuration
    :param data_dir: where content survives a restart; ``None`` keeps everything in memory
    :param clock: the time source
    """

    def __init__(
        self, config: SystemConfig, data_dir: Path | None = None, clock: Clock | None = None
    ) -> None:
        self.clock = clock or Clock()
        #: Told about every change of every namespace (replication sets it).
        self.observer: Observer | None = None
        self.data_dir = data_dir
        self._journal: Journal | None = None
        self.blobs: Blobs = Blobs()
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.blobs = FileBlobs(data_dir)
            self._journal = Journal(data_dir / "journal.jsonl")
        self.namespaces: dict[str, NamespaceStore] = {}
        self._build(config)
        if self._journal is not None:
            self._load()

    def namespace(self, tenant: str, name: str) -> NamespaceStore | None:
        """Return the store of namespace ``name`` of ``tenant`` (case-insensitive)."""
        return self.namespaces.get(f"{tenant}/{name}".lower())

    def reset(self, config: SystemConfig) -> None:
        """Drop all content and start over with ``config``."""
        self.blobs.clear()
        if self._journal is not None:
            self._journal.clear()
        self.clock.unshift()
        self._build(config)

    def close(self) -> None:
        """Close the journal."""
        if self._journal is not None:
            self._journal.close()

    def _build(self, config: SystemConfig) -> None:
        namespaces = {}
        for tenant in config.tenants:
            for ns in tenant.namespaces:
                store = NamespaceStore(
                    tenant.name,
                    ns,
                    blobs=self.blobs,
                    clock=self.clock,
                    journal=self._journal,
                    max_object_size=config.max_object_size,
                    observer=self._changed,
                )
                namespaces[store.key] = store
        self.namespaces = namespaces

    def _changed(self, namespace: NamespaceStore, change: Change) -> None:
        if self.observer is not None:
            self.observer(namespace, change)

    def _load(self) -> None:
        assert self._journal is not None
        latest: dict[tuple[str, str], Record] = {}
        for record in self._journal.replay():
            latest[(record["ns"], record["p"])] = record
        by_namespace: dict[str, list[Record]] = {}
        for (key, _), record in latest.items():
            if not record.get("gone"):
                by_namespace.setdefault(key, []).append(record)
        for key, records in by_namespace.items():
            store = self.namespaces.get(key)
            if store is None:
                log.warning("data directory holds namespace %s, which is not configured", key)
                continue
            store.load(records)
        live = sum(len(r) for r in by_namespace.values())
        if self._journal.records > 2 * live + 1000:
            self._journal.rewrite(self._all_records())
        log.debug("loaded %d entries from %s", live, self._journal.path)

    def _all_records(self) -> Iterator[Record]:
        for store in self.namespaces.values():
            yield from store.records()
