"""The XML documents HCP returns: directory and version listings, annotation lists, /proc.

Attributes are written in the order of HCP's documentation, always double-quoted and
escaped, one ``<entry>`` element per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hcpfs.emulator import formats, retention
from hcpfs.emulator.config import PERMISSIONS, NamespaceConfig, RetentionClass
from hcpfs.emulator.model import Annotation, DirState, Stats, Version

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Entries per piece of a listing sent as it is made (about 80 KB of XML for objects).
LISTING_BATCH = 128
_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
_ESCAPES = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&quot;",
    # Line breaks and tabs in names survive attribute normalisation only as references.
    # Other control characters cannot appear in XML 1.0 at all; they are written as
    # references too, which strict parsers refuse.
    **{c: f"&#{c};" for c in range(32)},
}


def esc(value: str) -> str:
    """Escape text for a double-quoted attribute or element content."""
    return value.translate(_ESCAPES)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _attrs(pairs: Iterable[tuple[str, str]]) -> str:
    return " ".join(f'{name}="{esc(value)}"' for name, value in pairs)


def _stylesheet(name: str) -> str:
    return f'<?xml-stylesheet type="text/xsl" href="/static/xsl/{name}.xsl"?>\n'


def _schema(name: str) -> str:
    return f'{_XSI} xsi:noNamespaceSchemaLocation="/static/xsd/{name}.xsd"'


def annotation_list_value(version: Version) -> str:
    """Format a version's annotations as ``name;size, name;size`` (header and listing)."""
    return ", ".join(f"{n};{a.size}" for n, a in sorted(version.annotations.items()))


def labels_value(version: Version) -> str:
    """Format labeled holds as the JSON array HCP takes in ``label_hold``."""
    return json.dumps([{"id": label, "hold": True} for label in version.labels])


@dataclass(frozen=True)
class ObjectFacts:
    """What an object entry needs besides the version itself.

    :param retention: the effective retention value
    :param hash_scheme: the namespace hash scheme
    :param dpl: the namespace data protection level
    :param replicated: whether the version reached the replica
    """

    retention: int
    hash_scheme: str
    dpl: int
    replicated: bool = False


def object_attributes(name: str, version: Version, facts: ObjectFacts) -> list[tuple[str, str]]:
    """Return the attributes of an object entry in a directory or version listing."""
    deleted = version.deleted
    return [
        ("urlName", formats.url_name(name)),
        ("utf8Name", name),
        ("type", "object"),
        ("size", str(version.size)),
        ("etag", version.etag),
        ("hashScheme", facts.hash_scheme),
        ("hash", version.hash),
        ("retention", str(facts.retention)),
        ("retentionString", retention.text(facts.retention)),
        ("retentionClass", version.retention.klass),
        ("ingestTime", str(version.ingest_ms // 1000)),
        ("ingestTimeMilliseconds", str(version.ingest_ms)),
        ("ingestTimeString", formats.ingest_string(version.ingest_ms)),
        ("hold", _flag(version.hold)),
        ("shred", _flag(version.shred)),
        ("dpl", str(facts.dpl)),
        ("index", _flag(version.index)),
        ("customMetadata", _flag(bool(version.annotations))),
        ("customMetadataAnnotations", annotation_list_value(version)),
        ("version", str(version.id)),
        ("replicated", _flag(facts.replicated)),
        ("changeTimeMilliseconds", formats.change_millis(version.change)),
        ("changeTimeString", formats.change_string(version.change)),
        ("owner", version.owner),
        ("domain", version.domain),
        ("hasAcl", "false"),
        ("state", "deleted" if deleted else "created"),
    ]


def directory_attributes(name: str, state: DirState, most_recent: bool) -> list[tuple[str, str]]:
    """Return the attributes of a subdirectory entry."""
    tick = state.latest if most_recent else state.created
    return [
        ("urlName", formats.url_name(name)),
        ("utf8Name", name),
        ("type", "directory"),
        ("changeTimeMilliseconds", formats.change_millis(tick)),
        ("changeTimeString", formats.change_string(tick)),
        ("state", "deleted" if state.deleted else "created"),
    ]


def _rest_path(path: str) -> str:
    return "/rest/" + path if path else "/rest"


def _parent_path(path: str) -> str:
    if not path:
        return "/"
    return _rest_path(path.rpartition("/")[0])


def listing_root(path: str, namespace: str) -> list[tuple[str, str]]:
    """Return the path attributes shared by directory and version listings."""
    rest, parent = _rest_path(path), _parent_path(path)
    return [
        ("path", formats.url_path(rest)),
        ("utf8Path", rest),
        ("parentDir", formats.url_path(parent)),
        ("utf8ParentDir", parent),
    ]


def directory(
    path: str,
    namespace: str,
    state: DirState,
    entries: Iterable[tuple[str, list[tuple[str, str]]]],
    show_deleted: bool,
) -> bytes:
    """Build the listing of a directory (``GET /rest/<dir>``) in one piece.

    :param path: the directory path (``""`` for the root)
    :param namespace: the namespace name
    :param state: the directory itself
    :param entries: name and attributes of each child, in order
    :param show_deleted: whether ``deleted=true`` was asked
    """
    return b"".join(directory_pieces(path, namespace, state, entries, show_deleted))


def directory_pieces(
    path: str,
    namespace: str,
    state: DirState,
    entries: Iterable[tuple[str, list[tuple[str, str]]]],
    show_deleted: bool,
    *,
    batch: int = LISTING_BATCH,
) -> Iterator[bytes]:
    """Build the listing of a directory as it is sent: the same bytes as :func:`directory`,
    in pieces of ``batch`` entries, each piece made only when it is asked for.

    :param batch: entries per piece
    """
    root = [
        *listing_root(path, namespace),
        ("dirDeleted", _flag(state.deleted)),
        ("showDeleted", _flag(show_deleted)),
        ("namespaceName", namespace),
        ("utf8NamespaceName", namespace),
        ("changeTimeMilliseconds", formats.change_millis(state.latest)),
        ("changeTimeString", formats.change_string(state.latest)),
    ]
    lines = [
        _HEAD,
        _stylesheet("directory"),
        f"<directory {_schema('directory')} {_attrs(root)}>\n",
    ]
    for _, attributes in entries:
        lines.append(f"  <entry {_attrs(attributes)}/>\n")
        if len(lines) >= batch:
            yield "".join(lines).encode("utf-8")
            lines = []
    lines.append("</directory>\n")
    yield "".join(lines).encode("utf-8")


def versions(
    path: str,
    namespace: str,
    deleted: bool,
    show_deleted: bool,
    entries: Iterable[list[tuple[str, str]]],
) -> bytes:
    """Build the version list of an object (``GET /rest/<object>?version=list``).

    :param deleted: whether the object's current version is deleted
    """
    root = [
        *listing_root(path, namespace),
        ("deleted", _flag(deleted)),
        ("showDeleted", _flag(show_deleted)),
        ("namespaceName", namespace),
        ("utf8NamespaceName", namespace),
    ]
    lines = [
        _HEAD,
        _stylesheet("ns-versions"),
        f"<versions {_schema('ns-versions')} {_attrs(root)}>\n",
        *(f"  <entry {_attrs(attributes)}/>\n" for attributes in entries),
        "</versions>\n",
    ]
    return "".join(lines).encode("utf-8")


def annotation_list(notes: Mapping[str, Annotation], hash_scheme: str) -> bytes:
    """Build the annotation list (``type=custom-metadata-info``)."""
    lines = [_HEAD, "<annotations>\n"]
    for name in sorted(notes):
        note = notes[name]
        lines += [
            "  <annotation>\n",
            f"    <name>{esc(name)}</name>\n",
            f"    <hash>{hash_scheme} {note.hash}</hash>\n",
            f"    <changeTimeMilliseconds>{formats.change_millis(note.change)}"
            "</changeTimeMilliseconds>\n",
            f"    <changeTimeString>{formats.change_string(note.change)}</changeTimeString>\n",
            f"    <size>{note.size}</size>\n",
            f"    <contentType>{'text/xml' if note.xml else 'unknown'}</contentType>\n",
            "  </annotation>\n",
        ]
    lines.append("</annotations>\n")
    return "".join(lines).encode("utf-8")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def proc_namespaces(tenant_host: str, scheme: str, namespaces: Iterable[NamespaceConfig]) -> bytes:
    """Build ``/proc``: the namespaces the caller can access."""
    lines = [
        _HEAD,
        _stylesheet("proc-namespaces"),
        f"<namespaces {_schema('proc-namespaces')} "
        f"{_attrs([('tenantHostName', tenant_host), ('httpScheme', scheme)])}>\n",
    ]
    for ns in namespaces:
        attributes = [
            ("name", ns.name),
            ("nameIDNA", ns.name.lower()),
            ("versioningEnabled", _flag(ns.versioning)),
            ("searchEnabled", _flag(ns.search_enabled)),
            ("retentionMode", ns.retention_mode),
            ("defaultShredValue", _flag(ns.shred_default)),
            ("defaultIndexValue", _flag(ns.index_default)),
            ("defaultRetentionValue", ns.retention_default),
            ("hashScheme", ns.hash_scheme),
            ("dpl", str(ns.dpl)),
        ]
        lines += [
            f"  <namespace {_attrs(attributes)}>\n",
            f"    <description>{_cdata(ns.description)}</description>\n",
            "  </namespace>\n",
        ]
    lines.append("</namespaces>\n")
    return "".join(lines).encode("utf-8")


def proc_statistics(ns: NamespaceConfig, stats: Stats) -> bytes:
    """Build ``/proc/statistics`` (every value an attribute of the root)."""
    attributes = [
        ("namespaceName", ns.name),
        ("totalCapacityBytes", str(ns.hard_quota_bytes)),
        ("usedCapacityBytes", str(stats.bytes)),
        ("softQuotaPercent", str(ns.soft_quota_percent)),
        ("objectCount", str(stats.objects)),
        ("shredObjectCount", "0"),
        ("shredObjectBytes", "0"),
        ("customMetadataObjectCount", str(stats.annotated)),
        ("customMetadataObjectBytes", str(stats.annotation_bytes)),
    ]
    return (
        _HEAD
        + _stylesheet("proc-statistics")
        + f"<statistics {_schema('proc-statistics')} {_attrs(attributes)}/>\n"
    ).encode("utf-8")


def proc_permissions(
    ns: NamespaceConfig, granted: frozenset[str], effective: frozenset[str]
) -> bytes:
    """Build ``/proc/permissions``.

    :param granted: the caller's own grants in the namespace
    :param effective: the caller's effective permissions
    """

    def element(tag: str, permissions: frozenset[str]) -> str:
        pairs = [(name, _flag(name in permissions)) for name in PERMISSIONS]
        return f"  <{tag} {_attrs(pairs)}/>\n"

    return (
        _HEAD
        + _stylesheet("proc-permissions")
        + f"<permissions {_schema('proc-permissions')} {_attrs([('namespaceName', ns.name)])}>\n"
        + element("namespacePermissions", ns.permissions)
        + element("namespaceEffectivePermissions", ns.permissions)
        + element("userPermissions", granted)
        + element("userEffectivePermissions", effective)
        + "</permissions>\n"
    ).encode("utf-8")


def proc_retention_classes(ns: NamespaceConfig, classes: Iterable[RetentionClass]) -> bytes:
    """Build ``/proc/retentionClasses``."""
    lines = [
        _HEAD,
        _stylesheet("proc-retentionClasses"),
        f"<retentionClasses {_schema('proc-retentionClasses')} "
        f"{_attrs([('namespaceName', ns.name)])}>\n",
    ]
    for klass in classes:
        attributes = [
            ("name", klass.name),
            ("value", klass.value),
            ("autoDelete", _flag(klass.auto_delete)),
        ]
        lines += [
            f"  <retentionClass {_attrs(attributes)}>\n",
            f"    <description>{_cdata(klass.description)}</description>\n",
            "  </retentionClass>\n",
        ]
    lines.append("</retentionClasses>\n")
    return "".join(lines).encode("utf-8")
