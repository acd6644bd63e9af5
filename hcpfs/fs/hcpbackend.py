"""The backend on a real HCP: each request of :class:`~hcpfs.fs.backend.Backend` sent with
:mod:`hcpfs.sdk`.

One :class:`~hcpfs.sdk.Target` is shared by all threads; each thread gets its own
:class:`~hcpfs.sdk.Connection` on it, so the reads, stores and listings that run at the same
time spread over every node of the system. Paths are percent-encoded here, completely, so that a
``%`` in a file name reaches HCP as ``%25``. Statuses that are not the expected success become
:class:`~hcpfs.fs.backend.BackendError` with HCP's ``X-HCP-ErrorMessage``; failures to talk to
HCP at all (after the SDK's retries on other nodes) become
:class:`~hcpfs.fs.backend.BackendConnectionError`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import BinaryIO
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

from hcpfs.fs.backend import (
    RETENTION_ALLOWED,
    SYMLINK_ANNOTATION,
    BackendConnectionError,
    BackendError,
    DirInfo,
    Entry,
    Listing,
    NamespaceInfo,
    ObjectInfo,
    ObjectSettings,
    Statistics,
    SymlinkInfo,
    check_hash,
)
from hcpfs.sdk import namespace, xmldoc
from hcpfs.sdk.connection import Connection, Params
from hcpfs.sdk.errors import HcpsdkError
from hcpfs.sdk.target import Target

log = logging.getLogger(__name__)

SYMLINK_DOCUMENT = b"<hcpfs-symlink/>"
"""The content of the symbolic-link annotation: well-formed XML, for namespaces that check it."""


class HcpBackend:
    """The filesystem's requests, sent to one HCP namespace.

    :param target: the namespace's target (``namespace.tenant.domain``); it stays the
        caller's to close, or call :meth:`close`
    :param timeout: seconds to wait for a node to answer
    :param retries: how often a failed request is tried again on other nodes
    """

    def __init__(self, target: Target, *, timeout: float = 30.0, retries: int = 3) -> None:
        self.target = target
        self._timeout = timeout
        self._retries = retries
        labels = target.fqdn.lower().split(".")
        self._name = labels[0]
        # X-HCP-CopySource names the source by namespace and tenant.
        self._copy_prefix = ".".join(labels[:2])
        self._local = threading.local()
        self._settings: Mapping[str, object] | None = None

    def __repr__(self) -> str:
        return f"HcpBackend({self.target!r})"

    def close(self) -> None:
        """Close every connection to HCP."""
        self.target.close()

    # -- namespace -----------------------------------------------------------------------------

    def check_access(self) -> None:
        """Make sure the namespace exists and the credentials are accepted (HEAD of the root).

        :raises BackendError: 400 (HCP's answer to HEAD for a namespace it does not have),
            403 (credentials refused or no permission), ...
        :raises BackendConnectionError: when no node answers
        """
        self._head("/")

    def namespace_info(self) -> NamespaceInfo:
        """Return the namespace's settings (``GET /proc?single=true``)."""
        settings = self._namespace_settings()
        return NamespaceInfo(
            name=self._name,
            versioning=bool(settings.get("versioningEnabled", False)),
            hash_scheme=str(settings.get("hashScheme", "SHA-256")),
            retention_mode=str(settings.get("retentionMode", "enterprise")),
        )

    def statistics(self) -> Statistics:
        """Return capacity, usage and object count (``GET /proc/statistics``)."""
        with self._translated("/"):
            found = namespace.Info(self.target, timeout=self._timeout).nsstatistics()
        return Statistics(
            total_capacity_bytes=_int(found.get("totalCapacityBytes")),
            used_capacity_bytes=_int(found.get("usedCapacityBytes")),
            object_count=_int(found.get("objectCount")),
            soft_quota_percent=_int(found.get("softQuotaPercent"), 85),
        )

    # -- metadata ------------------------------------------------------------------------------

    def stat(self, path: str) -> Entry:
        """Describe one path (HEAD); 404 when it does not exist."""
        con = self._head(path)
        headers = {name.lower(): value for name, value in con.getheaders()}
        if headers.get("x-hcp-type") == "directory":
            return DirInfo(path, _change_time(headers.get("x-hcp-changetimemilliseconds")))
        return _entry_from_headers(path, headers)

    def listdir(
        self, path: str, progress: Callable[[Sequence[Entry]], None] | None = None
    ) -> Listing:
        """Return the immediate children of a directory, from one listing request.

        The listing is parsed as it arrives, so a large one is read while HCP still sends it,
        and ``progress`` gets the entries of each piece read. The list returned is a
        :class:`Listing`: it also describes the directory itself, as its response headers did
        (what HEAD of the directory would have said).
        """
        con = self._send("GET", path)
        if con.response_status != 200:
            self._body(con, path)
            raise _failure(con, path)
        if con.getheader("X-HCP-Type", "directory") != "directory":
            self._body(con, path)
            raise BackendError(404, "not a directory", path)
        prefix = path.rstrip("/")
        changed = _change_time(con.getheader("X-HCP-ChangeTimeMilliseconds"))
        entries = Listing(DirInfo(path, changed))
        stream = xmldoc.ElementStream("entry")
        with self._translated(path):
            while piece := con.read(_LISTING_PIECE):
                _add_entries(entries, prefix, stream.feed(piece), progress)
            _add_entries(entries, prefix, stream.close(), progress)
        return entries

    # -- data ----------------------------------------------------------------------------------

    def read(self, path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        """Return ``length`` bytes from ``offset`` (ranged GET, ``If-Match`` on the ETag)."""
        if length <= 0:
            raise BackendError(416, "empty range", path)
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        con = self._send("GET", path, headers=headers)
        data = self._body(con, path)
        self._expect(con, path, 200, 206)
        if con.response_status == 200:
            # A node that ignored the range sent everything; keep what was asked for.
            data = data[offset : offset + length]
        return data

    def store(
        self,
        path: str,
        file: BinaryIO,
        size: int,
        sha256: str,
        settings: ObjectSettings | None = None,
    ) -> ObjectInfo:
        """Store ``size`` bytes of ``file`` (PUT, streamed) and check HCP's hash of them."""
        start = file.tell()
        params = _setting_params(settings) if settings is not None else []
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        con = self._send("PUT", path, body=file, params=params, headers=headers)
        self._body(con, path)
        if con.response_status == 409:
            conflict = _failure(con, path)
            if self._stored_earlier(path, sha256, size):
                # A retried PUT whose first attempt was stored but not answered finds it there.
                return self._object(path)
            raise conflict
        self._expect(con, path, 201)
        hash_header = con.getheader("X-HCP-Hash", "") or ""
        check_hash(path, hash_header, sha256, (file, start, size))
        if (settings is not None and not settings.is_empty()) or not self._plain_defaults():
            return self._object(path)
        return self._stored_info(path, size, con, hash_header)

    def store_stream(
        self, path: str, chunks: Iterable[bytes], settings: ObjectSettings | None = None
    ) -> ObjectInfo:
        """Store what ``chunks`` yields as it comes (PUT, chunked, never sent again)."""
        counted = _Counted(chunks)
        params = _setting_params(settings) if settings is not None else []
        headers = {"Content-Type": "application/octet-stream"}
        con = self._send("PUT", path, body=counted, params=params, headers=headers)
        self._body(con, path)
        self._expect(con, path, 201)
        hash_header = con.getheader("X-HCP-Hash", "") or ""
        if (settings is not None and not settings.is_empty()) or not self._plain_defaults():
            return self._object(path)
        return self._stored_info(path, counted.size, con, hash_header)

    def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object with its annotations on the server (PUT ``X-HCP-CopySource``)."""
        headers = {
            "X-HCP-CopySource": f"{self._copy_prefix}/rest{_quoted(source)}",
            "X-HCP-MetadataDirective": "ALL",
        }
        con = self._send("PUT", target, headers=headers)
        self._body(con, target)
        if con.response_status == 409:
            conflict = _failure(con, target)
            copied = self._find_object(target)
            original = self._find_object(source)
            if copied is not None and original is not None and copied.hash == original.hash:
                return copied  # a retried copy whose first attempt succeeded unanswered
            raise conflict
        self._expect(con, target, 201)
        return self._object(target)

    def delete(self, path: str) -> None:
        """Delete an object or a symbolic link (DELETE)."""
        self._simple("DELETE", path, 200)

    def rmdir(self, path: str) -> None:
        """Delete an empty directory (DELETE); 403 when it is not empty."""
        self._simple("DELETE", path, 200)

    def mkdir(self, path: str) -> None:
        """Create a directory (PUT ``?type=directory``); 409 when the name is taken."""
        con = self._send("PUT", path, params={"type": "directory"})
        self._body(con, path)
        if con.response_status == 409:
            conflict = _failure(con, path)
            if isinstance(self._find(path), DirInfo):
                return  # a retried request whose first attempt succeeded unanswered
            raise conflict
        self._expect(con, path, 201)

    def symlink(self, path: str, target: str) -> None:
        """Store a symbolic link: its target as data and the marker annotation, in one PUT."""
        data = target.encode("utf-8", "surrogateescape")
        params = {"type": "whole-object", "annotation": SYMLINK_ANNOTATION}
        headers = {"X-HCP-Size": str(len(data)), "Content-Type": "application/octet-stream"}
        body = data + SYMLINK_DOCUMENT
        self._simple("PUT", path, 201, body=body, params=params, headers=headers)

    def set_metadata(self, path: str, settings: ObjectSettings) -> None:
        """Change retention, hold, shred or index of an object (POST, form-encoded)."""
        body = urlencode(_setting_params(settings)).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        self._simple("POST", path, 200, body=body, headers=headers)

    # -- annotations ---------------------------------------------------------------------------

    def get_annotation(self, path: str, name: str) -> bytes | None:
        """Return one annotation, or None when the object has none of that name."""
        con = self._send("GET", path, params=_annotation(name))
        data = self._body(con, path)
        if con.response_status == 204:
            return None
        self._expect(con, path, 200)
        return data

    def put_annotation(self, path: str, name: str, data: bytes) -> None:
        """Store or replace one annotation."""
        self._simple("PUT", path, 201, body=data, params=_annotation(name))

    def delete_annotation(self, path: str, name: str) -> bool:
        """Delete one annotation; False when the object had none of that name."""
        con = self._send("DELETE", path, params=_annotation(name))
        self._body(con, path)
        if con.response_status == 204:
            return False
        self._expect(con, path, 200)
        return True

    def list_annotations(self, path: str) -> list[str]:
        """Return the names of an object's annotations."""
        con = self._send("GET", path, params={"type": "custom-metadata-info"})
        body = self._body(con, path)
        if con.response_status == 204:
            return []
        self._expect(con, path, 200)
        with self._translated(path):
            root = xmldoc.parse(body)
        return sorted(name.strip() for name in _texts(root, "name"))

    # -- internals -----------------------------------------------------------------------------

    def _connection(self) -> Connection:
        con: Connection | None = getattr(self._local, "connection", None)
        if con is None:
            con = Connection(self.target, timeout=self._timeout, retries=self._retries)
            self._local.connection = con
        return con

    @contextlib.contextmanager
    def _translated(self, path: str) -> Iterator[None]:
        """Turn the SDK's errors into the backend's, keeping the SDK error as the cause."""
        try:
            yield
        except HcpsdkError as error:
            if error.status is not None:
                raise BackendError(error.status, error.error_message or "", path) from error
            raise BackendConnectionError(error.reason, path) from error

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | BinaryIO | Iterable[bytes] | None = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Connection:
        con = self._connection()
        with self._translated(path):
            con.request(method, _url(path), body, params, headers)
        return con

    def _body(self, con: Connection, path: str) -> bytes:
        with self._translated(path):
            return con.read()

    @staticmethod
    def _expect(con: Connection, path: str, *statuses: int) -> None:
        if con.response_status not in statuses:
            raise _failure(con, path)

    def _simple(self, method: str, path: str, status: int, **kwargs: object) -> None:
        con = self._send(method, path, **kwargs)  # type: ignore[arg-type]  # forwarded as is
        self._body(con, path)
        self._expect(con, path, status)

    def _head(self, path: str) -> Connection:
        con = self._send("HEAD", path)
        self._body(con, path)
        self._expect(con, path, 200)
        return con

    def _find(self, path: str) -> Entry | None:
        try:
            return self.stat(path)
        except BackendError as error:
            if error.status == 404:
                return None
            raise

    def _find_object(self, path: str) -> ObjectInfo | None:
        entry = self._find(path)
        return entry if isinstance(entry, ObjectInfo) else None

    def _object(self, path: str) -> ObjectInfo:
        entry = self.stat(path)
        if not isinstance(entry, ObjectInfo):
            raise BackendError(409, "not a regular object", path)
        return entry

    def _stored_earlier(self, path: str, sha256: str, size: int) -> bool:
        found = self._find_object(path)
        if found is None or found.size != size:
            return False
        scheme, _, value = found.hash.partition(" ")
        return scheme.upper() == "SHA-256" and value.lower() == sha256.lower()

    def _namespace_settings(self) -> Mapping[str, object]:
        if self._settings is None:
            with self._translated("/"):
                found = namespace.Info(self.target, timeout=self._timeout).listaccessiblens()
            settings = next((v for k, v in found.items() if k.lower() == self._name), None)
            if settings is None:
                raise BackendError(404, f"/proc does not list the namespace {self._name}", "/")
            self._settings = settings
        return self._settings

    def _plain_defaults(self) -> bool:
        """Tell whether a new object gets retention 0, so a PUT's answer describes it fully."""
        return str(self._namespace_settings().get("defaultRetentionValue", "0")) == "0"

    def _stored_info(self, path: str, size: int, con: Connection, hash_header: str) -> ObjectInfo:
        settings = self._namespace_settings()
        created = con.getheader("X-HCP-VersionCreateTimeMilliseconds") or con.getheader(
            "X-HCP-IngestTimeMilliseconds"
        )
        when = _millis(created)
        return ObjectInfo(
            path=path,
            size=size,
            etag=_etag(con.getheader("ETag")),
            hash=hash_header,
            version_id=con.getheader("X-HCP-VersionId", "") or "",
            ingest_time=when,
            change_time=when,
            retention=RETENTION_ALLOWED,
            shred=bool(settings.get("defaultShredValue", False)),
            index=bool(settings.get("defaultIndexValue", True)),
        )


class _Counted:
    """An iterable of chunks that counts the bytes it has given."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


# -- parsing -----------------------------------------------------------------------------------


def _failure(con: Connection, path: str) -> BackendError:
    """Describe the last response of ``con`` as an error, before the connection is reused."""
    message = con.getheader("X-HCP-ErrorMessage", "") or ""
    return BackendError(con.response_status or 0, message, path)


def _url(path: str) -> str:
    return "/rest" if path == "/" else "/rest" + _quoted(path)


def _quoted(path: str) -> str:
    """Percent-encode a filesystem path as UTF-8, every character but ``/`` that needs it."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def _annotation(name: str) -> Params:
    return {"type": "custom-metadata", "annotation": name}


def _setting_params(settings: ObjectSettings) -> list[tuple[str, str | int | None]]:
    params: list[tuple[str, str | int | None]] = []
    if settings.retention is not None:
        params.append(("retention", settings.retention))
    for name in ("hold", "shred", "index"):
        value = getattr(settings, name)
        if value is not None:
            params.append((name, "true" if value else "false"))
    return params


def _texts(root: ElementTree.Element, tag: str) -> list[str]:
    return [element.text or "" for element in root.iter(tag)]


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _millis(value: str | None) -> float:
    try:
        return float(value or 0) / 1000.0
    except ValueError:
        return 0.0


def _change_time(value: str | None) -> float:
    # "1522656462729.00": milliseconds, then a counter that orders changes within one.
    return _millis((value or "0").partition(".")[0])


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().removeprefix("W/").strip('"')


def annotation_names(value: str | None) -> tuple[str, ...]:
    """Read HCP's list of annotations: ``name;size, name;size`` (or bare names).

    :param value: the ``X-HCP-CustomMetadataAnnotations`` header or listing attribute
    """
    names: list[str] = []
    for item in (value or "").split(","):
        tokens = [token.strip() for token in item.split(";") if token.strip()]
        if len(tokens) == 2 and tokens[1].isdigit():
            tokens = tokens[:1]
        names.extend(tokens)
    return tuple(sorted(names))


def _entry_from_headers(path: str, headers: Mapping[str, str]) -> Entry:
    target = headers.get("x-hcp-symlinktarget")
    change = _change_time(headers.get("x-hcp-changetimemilliseconds"))
    if target:
        # HEAD followed a link made through NFS or CIFS; show the link, not its target.
        return SymlinkInfo(path, target, len(target.encode("utf-8", "surrogateescape")), change)
    annotations = annotation_names(headers.get("x-hcp-custommetadataannotations"))
    size = _int(headers.get("x-hcp-size"))
    if SYMLINK_ANNOTATION in annotations:
        return SymlinkInfo(path, None, size, change)
    ingest_ms = headers.get("x-hcp-ingesttimemilliseconds")
    ingest = _millis(ingest_ms) if ingest_ms else float(_int(headers.get("x-hcp-ingesttime")))
    return ObjectInfo(
        path=path,
        size=size,
        etag=_etag(headers.get("etag")),
        hash=headers.get("x-hcp-hash", ""),
        version_id=headers.get("x-hcp-versionid", ""),
        ingest_time=ingest,
        change_time=change,
        retention=_int(headers.get("x-hcp-retention")),
        retention_string=headers.get("x-hcp-retentionstring", "Deletion Allowed"),
        retention_class=headers.get("x-hcp-retentionclass", ""),
        hold=_flag(headers.get("x-hcp-retentionhold"))
        or _flag(headers.get("x-hcp-labelretentionhold")),
        shred=_flag(headers.get("x-hcp-shred")),
        index=_flag(headers.get("x-hcp-index")),
        annotations=annotations,
    )


#: Bytes of a listing read and parsed at a time.
_LISTING_PIECE = 64 * 1024


def _add_entries(
    entries: list[Entry],
    prefix: str,
    found: list[dict[str, str]],
    progress: Callable[[Sequence[Entry]], None] | None = None,
) -> None:
    """Append the entries of a listing's ``<entry>`` elements, leaving out deleted ones, and
    hand those to ``progress``."""
    start = len(entries)
    for attributes in found:
        entry = _entry_from_listing(prefix, attributes)
        if entry is not None:
            entries.append(entry)
    if progress is not None and len(entries) > start:
        progress(entries[start:])


def _entry_from_listing(prefix: str, attributes: Mapping[str, str]) -> Entry | None:
    """Turn one ``<entry>`` of a listing into an entry; None for deleted ones."""
    if attributes.get("state", "created") == "deleted":
        return None
    name = attributes.get("utf8Name") or attributes.get("urlName") or ""
    if not name or "/" in name:
        return None
    path = f"{prefix}/{name}"
    change = _change_time(attributes.get("changeTimeMilliseconds"))
    kind = attributes.get("type")
    if kind == "directory":
        return DirInfo(path, change)
    if kind == "symlink":
        target = attributes.get("utf8SymlinkTarget") or attributes.get("symlinkTarget") or ""
        return SymlinkInfo(path, target, len(target.encode("utf-8", "surrogateescape")), change)
    listed = attributes.get("customMetadataAnnotations")
    annotations = annotation_names(listed) if listed else ()
    size = _int(attributes.get("size"))
    if SYMLINK_ANNOTATION in annotations:
        return SymlinkInfo(path, None, size, change)
    ingest_ms = attributes.get("ingestTimeMilliseconds")
    ingest = _millis(ingest_ms) if ingest_ms else float(_int(attributes.get("ingestTime")))
    scheme, value = attributes.get("hashScheme", ""), attributes.get("hash", "")
    return ObjectInfo(
        path=path,
        size=size,
        etag=_etag(attributes.get("etag")),
        hash=f"{scheme} {value}" if scheme and value else "",
        version_id=attributes.get("version", ""),
        ingest_time=ingest,
        change_time=change,
        retention=_int(attributes.get("retention")),
        retention_string=attributes.get("retentionString", "Deletion Allowed"),
        retention_class=attributes.get("retentionClass", ""),
        hold=_flag(attributes.get("hold")),
        shred=_flag(attributes.get("shred")),
        index=_flag(attributes.get("index")),
        annotations=annotations,
    )
