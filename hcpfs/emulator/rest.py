"""The namespace REST interface: ``/rest/<path>`` on a namespace host.

One function per method; each checks the query parameters it accepts, the caller's
permissions and the request's conditions, calls the store, and builds the response with the
headers HCP documents. Refusals are :class:`~hcpfs.emulator.errors.HcpError`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from hcpfs.emulator import auth, formats, retention, xmldoc
from hcpfs.emulator.blobs import Blob
from hcpfs.emulator.config import NamespaceConfig, TenantConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import Request, Response, chunks, gunzip
from hcpfs.emulator.model import (
    DirEntry,
    DirState,
    MetadataChange,
    ObjectEntry,
    ObjectOptions,
    Version,
    check_annotation_name,
    split_path,
)
from hcpfs.emulator.store import NamespaceStore

if TYPE_CHECKING:
    from hcpfs.emulator.system import System

MAX_PATH_BYTES = 4095
MAX_REASON = 1024
_SMALL_BODY = 64 * 1024
_GZIP_IN_MEMORY = 8 * 1024 * 1024
# Directories with more entries than this are listed chunked, as the XML is made.
_STREAMED_LISTING = 100
_CONDITIONS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
_COPY_CONDITIONS = tuple(f"X-HCP-CopySource-{c}" for c in _CONDITIONS)
_READ_PARAMS = frozenset(
    ["version", "type", "annotation", "nowait", "forceEtag", "deleted", "mostRecentDirTimes"]
)
_PARAMS = {
    "GET": _READ_PARAMS,
    "HEAD": _READ_PARAMS,
    "PUT": frozenset(
        [
            "retention",
            "hold",
            "shred",
            "index",
            "type",
            "annotation",
            "version",
            "forceEtag",
            "acl",
            "label_hold",
        ]
    ),
    "DELETE": frozenset(["privileged", "reason", "purge", "type", "annotation", "version"]),
    "POST": frozenset(
        ["hold", "index", "retention", "shred", "owner", "domain", "label_hold", "acl"]
    ),
}
_WRITES = frozenset({"PUT", "POST", "DELETE"})


@dataclass
class Call:
    """One REST request with everything its handling needs.

    :param path: the object or directory path, normalised (``""`` is the root)
    """

    system: System
    tenant: TenantConfig
    config: NamespaceConfig
    store: NamespaceStore
    request: Request
    principal: auth.Principal
    path: str

    @property
    def query(self) -> dict[str, str]:
        """The query parameters."""
        return self.request.query

    def header(self, name: str) -> str | None:
        """Return request header ``name``."""
        return self.request.header(name)

    def facts(self, version: Version) -> xmldoc.ObjectFacts:
        """Return what listings and headers show besides the version itself."""
        return xmldoc.ObjectFacts(
            self.store.effective_retention(version),
            self.config.hash_scheme,
            self.config.dpl,
            self.system.is_replicated(self.store, self.path, version),
        )


def handle(
    system: System, tenant: TenantConfig, config: NamespaceConfig, request: Request
) -> Response:
    """Answer a request for ``/rest...`` on a namespace host.

    :raises HcpError: for every refusal
    """
    if request.path != "/rest" and not request.path.startswith("/rest/"):
        raise HcpError(400, "malformed URL")
    if len(request.raw_path) - len("/rest/") > MAX_PATH_BYTES:
        raise HcpError(414, "the path is longer than 4095 bytes")
    allowed = _PARAMS.get(request.method)
    if allowed is None:
        raise HcpError(405, f"{request.method} is not supported")
    _check_params(request.query, allowed)
    principal = auth.authenticate(
        tenant, config, request.header("Authorization"), request.header("Cookie")
    )
    if request.method in _WRITES:
        if config.read_only:
            raise HcpError(403, "the namespace is read-only on this system")
        if not system.writable(tenant.name):
            raise HcpError(
                403,
                "the namespace is read-only on this system: replication allows writes on "
                "the other system only",
            )
    store = system.store.namespace(tenant.name, config.name)
    assert store is not None
    path = split_path(request.path[len("/rest") :], writing=request.method == "PUT")
    call = Call(system, tenant, config, store, request, principal, path)
    if request.method in ("GET", "HEAD"):
        return _get(call)
    if request.method == "PUT":
        return _put(call)
    if request.method == "DELETE":
        return _delete(call)
    return _post(call)


def _check_params(query: dict[str, str], allowed: frozenset[str]) -> None:
    for name in query:
        if name not in allowed:
            raise HcpError(400, f"unsupported query parameter {name!r}")
    if "acl" in query or query.get("type") == "acl":
        raise HcpError(400, "ACLs are not enabled for this namespace")


def _flag(query: dict[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise HcpError(400, f"{name} must be true or false")


def _version_id(text: str) -> int:
    if not text.isdigit():
        raise HcpError(400, f"invalid version {text!r}")
    return int(text)


# ---- GET and HEAD --------------------------------------------------------------------------


def _get(call: Call) -> Response:
    query = call.query
    kind = query.get("type")
    if query.get("version") == "list":
        return _version_list(call)
    if kind == "custom-metadata":
        return _get_annotation(call)
    if kind == "custom-metadata-info":
        return _annotation_info(call)
    if kind not in (None, "whole-object"):
        raise HcpError(400, f"unsupported type {kind!r}")
    if isinstance(call.store.find(call.path), DirEntry):
        call.principal.require("browse")
        return _listing(call)
    return _get_object(call, kind)


def _get_object(call: Call, kind: str | None) -> Response:
    call.principal.require("read")
    version = _target_version(call)
    if version.deleted:
        return Response(204)
    headers = _object_headers(call, version)
    not_modified = _check_conditions(call, version)
    if not_modified is not None:
        return not_modified
    if kind == "whole-object":
        return _whole_object(call, version, headers)
    return _object_body(call, version, headers)


def _target_version(call: Call) -> Version:
    """The version a GET/HEAD names: ``version=<id>`` or the current one."""
    text = call.query.get("version")
    if text is None:
        return call.store.current(call.path)
    return call.store.version(call.path, _version_id(text))


def _object_headers(call: Call, version: Version) -> list[tuple[str, str]]:
    value = call.store.effective_retention(version)
    tick = version.change
    annotations = xmldoc.annotation_list_value(version)
    headers = [
        ("Content-Type", version.content_type),
        ("ETag", f'"{version.etag}"'),
        ("X-HCP-Type", "object"),
        ("X-HCP-Size", str(version.size)),
        ("X-HCP-Hash", f"{call.config.hash_scheme} {version.hash}"),
        ("X-HCP-VersionId", str(version.id)),
        ("X-HCP-IngestTime", str(version.ingest_ms // 1000)),
        ("X-HCP-IngestTimeMilliseconds", str(version.ingest_ms)),
        ("X-HCP-RetentionClass", version.retention.klass),
        ("X-HCP-RetentionString", retention.text(value)),
        ("X-HCP-Retention", str(value)),
        ("X-HCP-IngestProtocol", "HTTP"),
        ("X-HCP-RetentionHold", _text(version.hold)),
        ("X-HCP-LabelRetentionHold", _text(bool(version.labels))),
        ("X-HCP-LabelRetentionHold-Labels", xmldoc.labels_value(version)),
        ("X-HCP-Shred", _text(version.shred)),
        ("X-HCP-DPL", str(call.config.dpl)),
        ("X-HCP-Index", _text(version.index)),
        ("X-HCP-Custom-Metadata", _text(bool(annotations))),
        ("X-HCP-CustomMetadataAnnotations", annotations),
        ("X-HCP-ACL", "false"),
        ("X-HCP-Owner", version.owner),
        ("X-HCP-Domain", version.domain),
        ("X-HCP-UID", ""),
        ("X-HCP-GID", ""),
    ]
    if (call.header("X-HCP-Get-Replicated") or "").lower() != "false":
        replicated = call.system.is_replicated(call.store, call.path, version)
        headers.append(("X-HCP-Replicated", _text(replicated)))
    headers += [
        ("X-HCP-ReplicationCollision", "false"),
        ("X-HCP-ChangeTimeMilliseconds", formats.change_millis(tick)),
        ("X-HCP-ChangeTimeString", formats.change_string(tick)),
        ("Last-Modified", formats.http_date(tick // 100000)),
    ]
    return headers


def _text(value: bool) -> str:
    return "true" if value else "false"


def _object_body(call: Call, version: Version, headers: list[tuple[str, str]]) -> Response:
    assert version.blob is not None
    size = version.size
    span = _range(call.header("Range"), size)
    head = call.request.method == "HEAD"
    if span is not None:
        start, stop = span
        headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
        return _blob_response(206, headers, version.blob, span, head)
    if _wants_gzip(call) and not head:
        return _gzip_response(headers, version.blob.chunks(), size)
    return _blob_response(200, headers, version.blob, (0, size), head)


def _blob_response(
    status: int, headers: list[tuple[str, str]], blob: Blob, span: tuple[int, int], head: bool
) -> Response:
    start, stop = span
    length = stop - start
    if head:
        return Response(status, headers, length=length)
    if length <= _SMALL_BODY:
        return Response(status, headers, b"".join(blob.chunks(start, stop)))
    return Response(status, headers, stream=blob.chunks(start, stop), length=length)


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the first byte range of a ``Range`` header as (start, stop); ``None`` if absent.

    :raises HcpError: 416 for a range that starts beyond the data or has no length
    """
    if not header or not header.strip().startswith("bytes="):
        return None
    first = header.strip()[len("bytes=") :].split(",")[0].strip()
    start_text, dash, end_text = first.partition("-")
    if not dash or not (start_text or end_text):
        return None
    try:
        if not start_text:
            suffix = int(end_text)
            if suffix <= 0:
                raise HcpError(416, "the range is empty")
            return max(0, size - suffix), size
        start = int(start_text)
        stop = int(end_text) + 1 if end_text else size
    except ValueError:
        return None
    if start >= size:
        raise HcpError(416, "the range starts beyond the end of the data")
    if stop <= start:
        return None
    return start, min(stop, size)


def _wants_gzip(call: Call) -> bool:
    """Tell whether to compress; refuse an ``Accept-Encoding`` without gzip, ``*`` or identity.

    :raises HcpError: 406
    """
    accept = call.header("Accept-Encoding")
    if accept is None:
        return False
    codings = set()
    for item in accept.split(","):
        name, _, params = item.partition(";")
        if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        codings.add(name.strip().lower())
    if "gzip" in codings or "*" in codings:
        return True
    if codings <= {"identity", ""}:
        return False
    raise HcpError(406, "HCP can only send gzip or uncompressed data")


def _gzip_response(
    headers: list[tuple[str, str]], pieces: Iterable[bytes | memoryview], size: int
) -> Response:
    headers += [("Content-Encoding", "gzip"), ("X-HCP-ContentLength", str(size))]
    if size <= _GZIP_IN_MEMORY:
        return Response(200, headers, gzip.compress(b"".join(pieces), compresslevel=1))
    return Response(200, headers, stream=_compress(pieces))


def _compress(pieces: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    deflater = zlib.compressobj(1, wbits=31)
    for piece in pieces:
        data = deflater.compress(piece)
        if data:
            yield data
    yield deflater.flush()


def _whole_object(call: Call, version: Version, headers: list[tuple[str, str]]) -> Response:
    if call.header("Range") is not None:
        raise HcpError(400, "type=whole-object cannot be combined with Range")
    name = call.query.get("annotation", "default")
    note = version.annotations.get(name)
    if note is None:
        raise HcpError(404, f"the object has no annotation {name!r}")
    assert version.blob is not None
    first = (call.header("X-HCP-CustomMetadataFirst") or "").lower() == "true"
    headers += [
        ("X-HCP-CustomMetadataFirst", _text(first)),
        ("X-HCP-CustomMetadataContentType", "text/xml" if note.xml else "unknown"),
        ("X-HCP-DataContentType", version.content_type),
    ]
    parts = [note.blob, version.blob] if first else [version.blob, note.blob]
    length = version.size + note.size
    if call.request.method == "HEAD":
        return Response(200, headers, length=length)
    stream = (piece for blob in parts for piece in blob.chunks())
    return Response(200, headers, stream=stream, length=length)


def _check_conditions(call: Call, version: Version) -> Response | None:
    """Apply ``If-*`` headers of a GET/HEAD: 304 is returned, 412 raised."""
    etag_match = call.header("If-Match")
    etag_none = call.header("If-None-Match")
    if etag_match is not None and not _etag_in(etag_match, version.etag):
        raise HcpError(412, "If-Match did not match")
    if etag_none is not None and _etag_in(etag_none, version.etag):
        return _not_modified(version)
    changed = version.change // 100000
    since = _http_time(call.header("If-Unmodified-Since"))
    if since is not None and changed > since:
        raise HcpError(412, "the object changed after If-Unmodified-Since")
    since = _http_time(call.header("If-Modified-Since"))
    if since is not None and etag_none is None and changed <= since:
        return _not_modified(version)
    return None


def _not_modified(version: Version) -> Response:
    return Response(
        304,
        [
            ("ETag", f'"{version.etag}"'),
            ("Last-Modified", formats.http_date(version.change // 100000)),
        ],
    )


def _etag_in(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/").strip('"').lower() for t in header.split(",")}
    return etag.lower() in tags


def _http_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


def _put_condition(call: Call) -> Callable[[Version | None], None] | None:
    """Build the check of ``If-*`` headers against the current version for a PUT."""
    etag_match = call.header("If-Match")
    etag_none = call.header("If-None-Match")
    unmodified = _http_time(call.header("If-Unmodified-Since"))
    modified = _http_time(call.header("If-Modified-Since"))
    if etag_match is None and etag_none is None and unmodified is None and modified is None:
        return None

    def check(current: Version | None) -> None:
        if etag_match is not None and (current is None or not _etag_in(etag_match, current.etag)):
            raise HcpError(412, "If-Match did not match")
        if etag_none is not None and current is not None and _etag_in(etag_none, current.etag):
            raise HcpError(412, "If-None-Match matched")
        if current is None:
            return
        changed = current.change // 100000
        if unmodified is not None and changed > unmodified:
            raise HcpError(412, "the object changed after If-Unmodified-Since")
        if modified is not None and changed <= modified:
            raise HcpError(304, "the object did not change after If-Modified-Since")

    return check


def _refuse_conditions(call: Call) -> None:
    for name in _CONDITIONS:
        if call.header(name) is not None:
            raise HcpError(400, f"{name} is not allowed on this request")


# ---- directories, versions, annotations ----------------------------------------------------


def _listing(call: Call) -> Response:
    """Answer GET or HEAD of a directory.

    A directory of more than :data:`_STREAMED_LISTING` entries is sent chunked, each piece of
    XML made just before it is sent (so the client reads the first entries while the last are
    still being made), and HEAD of it makes no XML at all; a smaller one goes in one piece with
    its ``Content-Length``, as does a large one asked for gzip (its ``X-HCP-ContentLength``
    needs the whole document).
    """
    show_deleted = _flag(call.query, "deleted") or False
    most_recent = _flag(call.query, "mostRecentDirTimes") or False
    state, children = call.store.listing(call.path, show_deleted)
    entries = _listing_entries(call, children, most_recent)
    pieces = xmldoc.directory_pieces(call.path, call.config.name, state, entries, show_deleted)
    headers = [
        ("Content-Type", "text/xml"),
        ("X-HCP-Type", "directory"),
        ("X-HCP-ChangeTimeMilliseconds", formats.change_millis(state.latest)),
        ("X-HCP-ChangeTimeString", formats.change_string(state.latest)),
        ("Last-Modified", formats.http_date(state.latest // 100000)),
    ]
    if len(children) > _STREAMED_LISTING:
        if call.request.method == "HEAD":
            return Response(200, headers, stream=(), length=None)
        if not _wants_gzip(call):
            return Response(200, headers, stream=pieces, length=None)
    return _document(call, headers, b"".join(pieces))


def _listing_entries(
    call: Call, children: list[tuple[str, Version | DirState]], most_recent: bool
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Yield the name and attributes of each child, each made when it is asked for."""
    for name, info in children:
        if isinstance(info, Version):
            child = f"{call.path}/{name}" if call.path else name
            facts = xmldoc.ObjectFacts(
                call.store.effective_retention(info),
                call.config.hash_scheme,
                call.config.dpl,
                call.system.is_replicated(call.store, child, info),
            )
            yield name, xmldoc.object_attributes(name, info, facts)
        else:
            yield name, xmldoc.directory_attributes(name, info, most_recent)


def _document(call: Call, headers: list[tuple[str, str]], body: bytes) -> Response:
    if call.request.method == "HEAD":
        return Response(200, headers, length=len(body))
    if _wants_gzip(call):
        return _gzip_response(headers, [body], len(body))
    return Response(200, headers, body)


def _version_list(call: Call) -> Response:
    call.principal.require("browse")
    if not call.config.versioning:
        raise HcpError(400, "versioning is not enabled for this namespace")
    entry = call.store.find(call.path)
    if not isinstance(entry, ObjectEntry):
        raise HcpError(404, "object not found")
    show_deleted = _flag(call.query, "deleted") or False
    name = call.path.rpartition("/")[2]
    versions = call.store.versions(call.path)
    entries = [
        xmldoc.object_attributes(name, v, call.facts(v))
        for v in versions
        if show_deleted or not v.deleted
    ]
    deleted = versions[-1].deleted
    body = xmldoc.versions(call.path, call.config.name, deleted, show_deleted, entries)
    return _document(call, [("Content-Type", "text/xml")], body)


def _annotation_version(call: Call) -> Version | None:
    """The version whose annotations a request addresses; ``None`` for a delete marker."""
    call.principal.require("read")
    version = _target_version(call)
    return None if version.deleted else version


def _get_annotation(call: Call) -> Response:
    name = call.query.get("annotation", "default")
    check_annotation_name(name)
    version = _annotation_version(call)
    note = version.annotations.get(name) if version is not None else None
    if version is None or note is None:
        return Response(204)
    headers = [
        ("Content-Type", "text/xml"),
        ("ETag", f'"{version.etag}"'),
        ("X-HCP-Type", "annotation"),
        ("X-HCP-Size", str(note.size)),
        ("X-HCP-Hash", f"{call.config.hash_scheme} {note.hash}"),
        ("X-HCP-ChangeTimeMilliseconds", formats.change_millis(note.change)),
        ("X-HCP-ChangeTimeString", formats.change_string(note.change)),
        ("Last-Modified", formats.http_date(note.change // 100000)),
    ]
    head = call.request.method == "HEAD"
    if _wants_gzip(call) and not head:
        return _gzip_response(headers, note.blob.chunks(), note.size)
    return _blob_response(200, headers, note.blob, (0, note.size), head)


def _annotation_info(call: Call) -> Response:
    version = _annotation_version(call)
    if version is None or not version.annotations:
        return Response(204)
    body = xmldoc.annotation_list(version.annotations, call.config.hash_scheme)
    return _document(call, [("Content-Type", "text/xml")], body)


# ---- PUT -----------------------------------------------------------------------------------


def _put(call: Call) -> Response:
    kind = call.query.get("type")
    if kind == "directory":
        call.principal.require("write")
        call.store.make_directory(call.path)
        return Response(201)
    if kind == "custom-metadata":
        return _put_annotation(call)
    if kind not in (None, "whole-object"):
        raise HcpError(400, f"unsupported type {kind!r}")
    if call.header("X-HCP-CopySource") is not None:
        return _copy(call)
    if "version" in call.query or "forceEtag" in call.query:
        raise HcpError(400, "version and forceEtag are only allowed with X-HCP-CopySource")
    call.principal.require("write")
    options = _object_options(call)
    body = _upload(call)
    if kind == "whole-object":
        return _put_whole_object(call, options, body)
    version = call.store.put_object(
        call.path,
        body,
        options,
        length=_announced_length(call),
        condition=_put_condition(call),
    )
    return _created(call, version)


def _object_options(call: Call) -> ObjectOptions:
    query = call.query
    hold = _flag(query, "hold")
    labels = _labels(query.get("label_hold"))
    if hold is not None or labels is not None:
        call.principal.require("privileged")
    return ObjectOptions(
        retention=query.get("retention"),
        hold=hold,
        labels=tuple(label for label, on in labels if on) if labels is not None else None,
        shred=_flag(query, "shred"),
        index=_flag(query, "index"),
        content_type=call.header("Content-Type") or "",
        owner=call.principal.user,
    )


def _labels(text: str | None) -> tuple[tuple[str, bool], ...] | None:
    """Parse ``label_hold``: ``[{"id": "...", "hold": true}, ...]``."""
    if text is None:
        return None
    try:
        items = json.loads(text)
        labels = tuple((str(item["id"]), bool(item["hold"])) for item in items)
    except (ValueError, TypeError, KeyError):
        raise HcpError(400, "label_hold must be a JSON array of id/hold pairs") from None
    return labels


def _announced_length(call: Call) -> int | None:
    if call.header("Content-Encoding") is not None:
        return None
    text = call.header("Content-Length")
    return int(text) if text is not None and text.isdigit() else None


def _upload(call: Call) -> Iterator[bytes]:
    """Return the request body, decompressed when sent with gzip.

    :raises HcpError: 411 without a length, 415 for an encoding other than gzip
    """
    request = call.request
    chunked = "chunked" in (call.header("Transfer-Encoding") or "").lower()
    if call.header("Content-Length") is None and not chunked:
        raise HcpError(411, "a PUT needs Content-Length or chunked transfer encoding")
    encoding = (call.header("Content-Encoding") or "identity").strip().lower()
    pieces = chunks(request.body)
    if encoding == "gzip":
        return gunzip(pieces)
    if encoding != "identity":
        raise HcpError(415, "HCP accepts only gzip as Content-Encoding")
    return pieces


def _created(call: Call, version: Version, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [
        ("Location", formats.url_path(f"/rest/{call.path}")),
        ("ETag", f'"{version.etag}"'),
        ("X-HCP-Hash", f"{call.config.hash_scheme} {version.hash}"),
        ("X-HCP-VersionId", str(version.id)),
        ("X-HCP-IngestTimeMilliseconds", str(version.ingest_ms)),
        *(extra or []),
    ]
    return Response(201, headers)


class _Split:
    """Splits a whole-object body into the object data and the annotation that follows."""

    def __init__(self, pieces: Iterator[bytes], size: int) -> None:
        self._pieces = pieces
        self._size = size
        self._rest = b""

    def data(self) -> Iterator[bytes]:
        """Yield the first ``size`` bytes.

        :raises HcpError: 400 when the body is shorter than ``X-HCP-Size``
        """
        left = self._size
        while left > 0:
            piece = next(self._pieces, None)
            if piece is None:
                raise HcpError(400, "X-HCP-Size is larger than the request body")
            if len(piece) > left:
                self._rest = piece[left:]
                piece = piece[:left]
            left -= len(piece)
            yield piece

    def annotation(self) -> Iterator[bytes]:
        """Yield the bytes after the data."""
        if self._rest:
            yield self._rest
        yield from self._pieces


def _put_whole_object(call: Call, options: ObjectOptions, body: Iterator[bytes]) -> Response:
    size_text = call.header("X-HCP-Size")
    if size_text is None or not size_text.strip().isdigit():
        raise HcpError(400, "type=whole-object needs X-HCP-Size")
    name = call.query.get("annotation", "default")
    split = _Split(body, int(size_text))
    version = call.store.put_object(
        call.path,
        split.data(),
        options,
        condition=_put_condition(call),
        annotation=(name, split.annotation()),
    )
    note = version.annotations[name]
    extra = [("X-HCP-CustomMetadataHash", f"{call.config.hash_scheme} {note.hash}")]
    return _created(call, version, extra)


def _put_annotation(call: Call) -> Response:
    call.principal.require("write")
    _refuse_conditions(call)
    if "version" in call.query:
        raise HcpError(400, "annotations can only be stored on the current version")
    name = call.query.get("annotation", "default")
    check_annotation_name(name)
    version = call.store.put_annotation(call.path, name, _upload(call))
    note = version.annotations[name]
    return Response(201, [("X-HCP-Hash", f"{call.config.hash_scheme} {note.hash}")])


def _copy(call: Call) -> Response:
    """PUT with ``X-HCP-CopySource``: copy an object (version) of the same tenant."""
    call.principal.require("write")
    source_store, source_path, version_text = _copy_source(call)
    source_config = source_store.config
    reader = auth.authenticate(
        call.tenant, source_config, call.header("Authorization"), call.header("Cookie")
    )
    reader.require("read")
    version_text = call.query.get("version", version_text)
    entry = source_store.find(source_path)
    if isinstance(entry, DirEntry):
        raise HcpError(400, "the copy source is a directory")
    if version_text is None:
        source = source_store.current(source_path)
    else:
        source = source_store.version(source_path, _version_id(version_text))
        if source.deleted:
            return Response(204)
    not_modified = _check_copy_conditions(call, source)
    if not_modified is not None:
        return not_modified
    directive = (call.header("X-HCP-MetadataDirective") or "NONE").upper()
    if directive not in ("ALL", "NONE"):
        raise HcpError(400, "X-HCP-MetadataDirective must be ALL or NONE")
    version = call.store.copy_object(
        call.path,
        source,
        source_config.hash_scheme,
        _object_options(call),
        with_annotations=directive == "ALL",
        condition=_put_condition(call),
    )
    return _created(call, version)


def _copy_source(call: Call) -> tuple[NamespaceStore, str, str | None]:
    """Read ``X-HCP-CopySource: <namespace>.<tenant>[.<domain>]/<path>[?version=<id>]``."""
    value = call.header("X-HCP-CopySource") or ""
    value, _, query = value.partition("?")
    version = dict(parse_qsl(query)).get("version") if query else None
    host, _, path = unquote(value.strip()).lstrip("/").partition("/")
    labels = host.lower().split(".")
    if len(labels) < 2 or not path:
        raise HcpError(400, "X-HCP-CopySource must be <namespace>.<tenant>/<object path>")
    if labels[1] != call.tenant.name.lower():
        raise HcpError(400, "objects can only be copied within the tenant")
    store = call.system.store.namespace(labels[1], labels[0])
    if store is None:
        raise HcpError(400, "the source namespace does not exist")
    path = path.removeprefix("rest/")
    return store, split_path(path), version


def _check_copy_conditions(call: Call, source: Version) -> Response | None:
    etag_match, etag_none, modified_text, unmodified_text = (
        call.header(name) for name in _COPY_CONDITIONS
    )
    changed = source.change // 100000
    if etag_match is not None and not _etag_in(etag_match, source.etag):
        raise HcpError(412, "X-HCP-CopySource-If-Match did not match")
    if etag_none is not None and _etag_in(etag_none, source.etag):
        return _not_modified(source)
    unmodified = _http_time(unmodified_text)
    if unmodified is not None and changed > unmodified:
        raise HcpError(412, "the source changed after X-HCP-CopySource-If-Unmodified-Since")
    modified = _http_time(modified_text)
    if modified is not None and changed <= modified:
        return _not_modified(source)
    return None


# ---- DELETE and POST -----------------------------------------------------------------------


def _form(call: Call) -> dict[str, str]:
    """Merge a form-encoded body into the query parameters (the body wins)."""
    params = dict(call.query)
    content_type = (call.header("Content-Type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        data = call.request.body.read(_SMALL_BODY + 1)
        if len(data) > _SMALL_BODY:
            raise HcpError(400, "the form body is too large")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise HcpError(400, "the form body is not UTF-8") from None
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _delete(call: Call) -> Response:
    _refuse_conditions(call)
    params = _form(call)
    _check_params(params, _PARAMS["DELETE"])
    if "version" in params:
        raise HcpError(400, "deleting a single version is not supported; use purge=true")
    if params.get("type") == "custom-metadata":
        call.principal.require("delete")
        name = params.get("annotation", "default")
        deleted = call.store.delete_annotation(call.path, name)
        return Response(200 if deleted else 204)
    if params.get("type") is not None:
        raise HcpError(400, f"unsupported type {params['type']!r}")
    purge = _flag(params, "purge") or False
    privileged = _flag(params, "privileged") or False
    call.principal.require("purge" if purge else "delete")
    if privileged:
        call.principal.require("privileged")
        reason = params.get("reason", "")
        if not reason or len(reason) > MAX_REASON:
            raise HcpError(400, "a privileged delete needs a reason of 1 to 1024 characters")
    call.store.delete(call.path, privileged=privileged, purge=purge)
    return Response(200)


def _post(call: Call) -> Response:
    _refuse_conditions(call)
    params = _form(call)
    _check_params(params, _PARAMS["POST"])
    change = MetadataChange(
        retention=params.get("retention"),
        hold=_flag(params, "hold"),
        labels=_labels(params.get("label_hold")),
        shred=_flag(params, "shred"),
        index=_flag(params, "index"),
        owner=params.get("owner"),
        domain=params.get("domain", ""),
    )
    given = (
        change.retention,
        change.hold,
        change.labels,
        change.shred,
        change.index,
        change.owner,
    )
    if all(v is None for v in given):
        raise HcpError(400, "no system metadata to change")
    call.principal.require("write")
    if change.hold is not None or change.labels is not None:
        call.principal.require("privileged")
    if change.owner is not None:
        call.principal.require("changeOwner")
        _check_owner(call, change)
    call.store.set_metadata(call.path, change)
    return Response(200)


def _check_owner(call: Call, change: MetadataChange) -> None:
    if change.domain:
        raise HcpError(400, "Active Directory owners are not supported")
    if change.owner and call.tenant.user(change.owner) is None:
        raise HcpError(400, f"no user {change.owner!r} in this tenant")
