"""Directories over REST: create, list (exact XML of hcp-protocol §5.2), HEAD, delete."""

from __future__ import annotations

import gzip
import hashlib
from typing import TYPE_CHECKING

from hcpfs.emulator import Emulator

if TYPE_CHECKING:
    from conftest import Client

XSI = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
VERSIONED = "versioned.dev.hcp.example.com"
ROOT_ATTRIBUTES = [
    XSI,
    "path",
    "utf8Path",
    "parentDir",
    "utf8ParentDir",
    "dirDeleted",
    "showDeleted",
    "namespaceName",
    "utf8NamespaceName",
    "changeTimeMilliseconds",
    "changeTimeString",
]
OBJECT_ATTRIBUTES = [
    "urlName", "utf8Name", "type", "size", "etag", "hashScheme", "hash", "retention",
    "retentionString", "retentionClass", "ingestTime", "ingestTimeMilliseconds",
    "ingestTimeString", "hold", "shred", "dpl", "index", "customMetadata",
    "customMetadataAnnotations", "version", "replicated", "changeTimeMilliseconds",
    "changeTimeString", "owner", "domain", "hasAcl", "state",
]  # fmt: skip
DIRECTORY_ATTRIBUTES = [
    "urlName", "utf8Name", "type", "changeTimeMilliseconds", "changeTimeString", "state",
]  # fmt: skip


def test_listing_document(client: Client) -> None:
    client.put("/rest/docs/b.txt", b"bee")
    client.put("/rest/docs/a.txt", b"a")
    client.put("/rest/docs/sub/deeper", b"x")
    reply = client.request("GET", "/rest/docs")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/xml"
    assert reply.header("X-HCP-Type") == "directory"
    assert reply.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert b'<?xml-stylesheet type="text/xsl" href="/static/xsl/directory.xsl"?>' in reply.body
    root = reply.xml()
    assert root.tag == "directory"
    assert list(root.attrib) == ROOT_ATTRIBUTES
    assert root.get("path") == "/rest/docs" and root.get("parentDir") == "/rest"
    assert (root.get("dirDeleted"), root.get("showDeleted")) == ("false", "false")
    assert root.get("namespaceName") == "ns1"
    assert root.get("changeTimeMilliseconds") == reply.header("X-HCP-ChangeTimeMilliseconds")
    names = [entry.get("utf8Name") for entry in root]
    assert names == ["a.txt", "b.txt", "sub"]
    bee = root[1]
    assert list(bee.attrib) == OBJECT_ATTRIBUTES
    assert bee.get("type") == "object" and bee.get("size") == "3"
    assert bee.get("etag") == hashlib.md5(b"bee").hexdigest()
    assert bee.get("hash") == hashlib.sha256(b"bee").hexdigest().upper()
    assert (bee.get("hashScheme"), bee.get("retentionString")) == ("SHA-256", "Deletion Allowed")
    assert (bee.get("state"), bee.get("owner"), bee.get("hasAcl")) == ("created", "dev", "false")
    head = client.request("HEAD", "/rest/docs/b.txt")
    assert bee.get("version") == head.header("X-HCP-VersionId")
    assert bee.get("changeTimeMilliseconds") == head.header("X-HCP-ChangeTimeMilliseconds")
    sub = root[2]
    assert list(sub.attrib) == DIRECTORY_ATTRIBUTES
    assert (sub.get("type"), sub.get("state")) == ("directory", "created")


def test_root_listing(client: Client) -> None:
    client.put("/rest/top", b"x")
    for url in ("/rest", "/rest/"):
        root = client.request("GET", url).xml()
        assert (root.get("path"), root.get("utf8Path")) == ("/rest", "/rest")
        assert [e.get("urlName") for e in root] == ["top"]


def test_names_are_percent_encoded_in_url_name(client: Client) -> None:
    client.put("/rest/dir/a%20b%26c%0Ad.txt", b"x")
    entry = client.request("GET", "/rest/dir").xml()[0]
    assert entry.get("urlName") == "a%20b%26c%0Ad.txt"
    assert entry.get("utf8Name") == "a b&c\nd.txt"


def test_create_directory(client: Client) -> None:
    assert client.request("PUT", "/rest/made/deep?type=directory").status == 201
    assert client.request("PUT", "/rest/made/deep?type=directory").status == 409
    client.put("/rest/file", b"x")
    assert client.request("PUT", "/rest/file?type=directory").status == 409
    assert [e.get("type") for e in client.request("GET", "/rest/made").xml()] == ["directory"]


def test_head_on_a_directory(client: Client) -> None:
    client.request("PUT", "/rest/d?type=directory")
    before = client.request("HEAD", "/rest/d")
    assert before.status == 200 and before.body == b""
    assert before.header("X-HCP-Type") == "directory"
    client.put("/rest/d/new", b"x")
    after = client.request("HEAD", "/rest/d")
    assert float(after.header("X-HCP-ChangeTimeMilliseconds") or 0) > float(
        before.header("X-HCP-ChangeTimeMilliseconds") or 0
    )
    assert after.header("X-HCP-ChangeTimeString") and after.header("Last-Modified")


def test_most_recent_dir_times(client: Client) -> None:
    client.request("PUT", "/rest/p/c?type=directory")
    client.put("/rest/p/c/later", b"x")
    created = client.request("GET", "/rest/p").xml()[0].get("changeTimeMilliseconds")
    recent = client.request("GET", "/rest/p?mostRecentDirTimes=true").xml()[0]
    stored = client.request("HEAD", "/rest/p/c/later").header("X-HCP-ChangeTimeMilliseconds")
    assert recent.get("changeTimeMilliseconds") == stored
    assert float(created or 0) < float(stored or 0)


def test_delete_directories(client: Client) -> None:
    client.put("/rest/full/doc", b"x")
    reply = client.request("DELETE", "/rest/full")
    assert reply.status == 403 and reply.header("X-HCP-ErrorMessage")
    client.request("DELETE", "/rest/full/doc")
    assert client.request("DELETE", "/rest/full").status == 200
    assert client.request("GET", "/rest/full").status == 404
    assert client.request("DELETE", "/rest/full").status == 404


def test_deleted_entries_with_versioning(client: Client) -> None:
    client.put("/rest/d/kept", b"x", host=VERSIONED)
    client.put("/rest/d/gone", b"x", host=VERSIONED)
    client.request("DELETE", "/rest/d/gone", host=VERSIONED)
    plain = client.request("GET", "/rest/d", host=VERSIONED).xml()
    assert [e.get("utf8Name") for e in plain] == ["kept"]
    shown = client.request("GET", "/rest/d?deleted=true", host=VERSIONED).xml()
    assert shown.get("showDeleted") == "true"
    assert [(e.get("utf8Name"), e.get("state")) for e in shown] == [
        ("gone", "deleted"),
        ("kept", "created"),
    ]
    client.request("DELETE", "/rest/d/kept", host=VERSIONED)
    assert client.request("DELETE", "/rest/d", host=VERSIONED).status == 200
    assert client.request("GET", "/rest/d", host=VERSIONED).status == 404
    deleted_dir = client.request("GET", "/rest/d?deleted=true", host=VERSIONED).xml()
    assert deleted_dir.get("dirDeleted") == "true" and len(deleted_dir) == 2
    top = client.request("GET", "/rest?deleted=true", host=VERSIONED).xml()
    assert [(e.get("utf8Name"), e.get("state")) for e in top] == [("d", "deleted")]


def test_listing_needs_browse(client: Client, hcp: Emulator) -> None:
    user = hcp.system.config.tenants[0].users[0]
    user.permissions["ns1"] = frozenset({"read"})
    assert client.request("GET", "/rest").status == 403


def test_gzip_listing(client: Client) -> None:
    client.put("/rest/z/one", b"x")
    reply = client.request("GET", "/rest/z", headers={"Accept-Encoding": "gzip"})
    assert reply.header("Content-Encoding") == "gzip"
    assert b"<directory" in gzip.decompress(reply.body)


def test_a_large_listing_is_sent_chunked_as_it_is_made(client: Client) -> None:
    names = [f"n{number:03}" for number in range(101)]
    for name in names[:100]:
        client.put(f"/rest/big/{name}", b"x")
    small = client.request("GET", "/rest/big")
    assert small.header("Content-Length") == str(len(small.body))
    assert small.header("Transfer-Encoding") is None
    client.put(f"/rest/big/{names[100]}", b"x")
    reply = client.request("GET", "/rest/big")
    assert reply.header("Transfer-Encoding") == "chunked"
    assert reply.header("Content-Length") is None
    assert [entry.get("utf8Name") for entry in reply.xml()] == names
    # The same bytes as the listing made in one piece (what gzip compresses).
    whole = client.request("GET", "/rest/big", headers={"Accept-Encoding": "gzip"})
    assert whole.header("X-HCP-ContentLength") == str(len(reply.body))
    assert gzip.decompress(whole.body) == reply.body


def test_head_of_a_large_directory_announces_the_chunked_listing(client: Client) -> None:
    for number in range(150):
        client.put(f"/rest/wide/f{number}", b"x")
    listed = client.request("GET", "/rest/wide")
    head = client.request("HEAD", "/rest/wide")
    assert (head.status, head.body) == (200, b"")
    assert head.header("Transfer-Encoding") == "chunked"
    assert head.header("Content-Length") is None
    for name in ("X-HCP-Type", "X-HCP-ChangeTimeMilliseconds", "Last-Modified"):
        assert head.header(name) == listed.header(name)
    assert client.request("GET", "/rest/wide/f0").body == b"x"  # the connection goes on
