"""An append-only journal that makes the namespace content survive a restart.

Each line is one JSON record that states the whole metadata of one entry (a directory, or an
object with all its versions) after a change, or that the entry is gone. Replaying the file
keeps the last record per entry. At start the journal is rewritten compactly when it holds
many superseded records, so its size stays proportional to the content.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hcpfs.emulator import retention
from hcpfs.emulator.blobs import Blob
from hcpfs.emulator.model import Annotation, DirEntry, DirState, Entry, Version

log = logging.getLogger(__name__)

Record = dict[str, Any]


class Journal:
    """The ``journal.jsonl`` file of a data directory.

    :param path: the journal file; created when missing
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")
        self.records = 0

    def replay(self) -> Iterator[Record]:
        """Yield the records in the order they were written; a torn last line is skipped."""
        with self.path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, 1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d: skipping an incomplete record", self.path, number)
                    continue
                self.records += 1
                yield record

    def append(self, record: Record) -> None:
        """Write one record and hand it to the operating system."""
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.records += 1

    def rewrite(self, records: Iterator[Record]) -> None:
        """Replace the journal by ``records`` (atomically, through a temporary file)."""
        temp = self.path.with_suffix(".tmp")
        count = 0
        with temp.open("w", encoding="utf-8") as stream:
            for record in records:
                stream.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
                stream.write("\n")
                count += 1
            stream.flush()
            os.fsync(stream.fileno())
        with self._lock:
            self._file.close()
            temp.replace(self.path)
            self._file = self.path.open("a", encoding="utf-8")
            self.records = count

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._file.close()
            self._file = self.path.open("w", encoding="utf-8")
            self.records = 0

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


def entry_record(key: str, entry: Entry) -> Record:
    """Return the journal record that states an entry's whole metadata."""
    if isinstance(entry, DirEntry):
        state = entry.state
        return {
            "ns": key,
            "p": entry.path,
            "d": [state.version_id, state.created, state.latest, state.deleted],
        }
    return {"ns": key, "p": entry.path, "o": [_version_record(v) for v in entry.versions]}


def _version_record(version: Version) -> dict[str, Any]:
    record: dict[str, Any] = {"id": version.id, "in": version.ingest_ms, "ch": version.change}
    if version.deleted:
        record["del"] = True
    if version.blob is not None:
        record.update(b=version.blob.key, sz=version.blob.size, et=version.etag, h=version.hash)
    record.update(
        ct=version.content_type,
        r=version.retention.value,
        rc=version.retention.klass,
        ho=version.hold,
        lb=list(version.labels),
        sh=version.shred,
        ix=version.index,
        ow=version.owner,
        dm=version.domain,
    )
    if version.annotations:
        record["an"] = {
            name: {"b": n.blob.key, "sz": n.size, "h": n.hash, "ch": n.change, "x": n.xml}
            for name, n in version.annotations.items()
        }
    return record


def dir_state(data: list[Any]) -> DirState:
    """Rebuild a directory state from its record."""
    version_id, created, latest, deleted = data
    return DirState(version_id, created, latest, deleted)


def version_from(data: dict[str, Any], restore: Callable[[str, int], Blob]) -> Version:
    """Rebuild a version from its record; ``restore`` turns a blob key and size into a blob."""
    blob = restore(data["b"], data["sz"]) if "b" in data else None
    notes = {
        name: Annotation(restore(n["b"], n["sz"]), n["h"], n["ch"], n["x"])
        for name, n in data.get("an", {}).items()
    }
    return Version(
        id=data["id"],
        ingest_ms=data["in"],
        change=data["ch"],
        deleted=data.get("del", False),
        blob=blob,
        etag=data.get("et", ""),
        hash=data.get("h", ""),
        content_type=data.get("ct", "application/octet-stream"),
        retention=retention.Setting(data.get("r", 0), data.get("rc", "")),
        hold=data.get("ho", False),
        labels=tuple(data.get("lb", ())),
        shred=data.get("sh", False),
        index=data.get("ix", True),
        owner=data.get("ow", ""),
        domain=data.get("dm", ""),
        annotations=notes,
    )
