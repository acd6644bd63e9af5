"""Versions over REST (hcp-protocol §4.2.7, §4.4.2, §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Client, Reply

HOST = "versioned.dev.hcp.example.com"


def put(client: Client, path: str, data: bytes) -> int:
    reply = client.put(path, data, host=HOST)
    assert reply.status == 201
    return int(reply.header("X-HCP-VersionId") or 0)


def get(client: Client, method: str, path: str) -> Reply:
    return client.request(method, path, host=HOST)


def test_version_list_document(client: Client) -> None:
    ids = [put(client, "/rest/dir/my%20doc", b"x" * n) for n in (1, 2, 3)]
    reply = get(client, "GET", "/rest/dir/my%20doc?version=list")
    assert reply.status == 200
    assert b'href="/static/xsl/ns-versions.xsl"' in reply.body
    root = reply.xml()
    assert root.tag == "versions"
    assert root.get("path") == "/rest/dir/my%20doc" and root.get("utf8Path") == "/rest/dir/my doc"
    assert (root.get("parentDir"), root.get("deleted"), root.get("showDeleted")) == (
        "/rest/dir",
        "false",
        "false",
    )
    assert [int(e.get("version") or 0) for e in root] == ids
    assert [e.get("size") for e in root] == ["1", "2", "3"]
    first = root[0]
    assert (first.get("urlName"), first.get("utf8Name")) == ("my%20doc", "my doc")
    assert first.get("state") == "created" and first.get("etag")
    assert first.get("ingestTimeString") and first.get("changeTimeMilliseconds")


def test_old_versions_stay_readable(client: Client) -> None:
    first = put(client, "/rest/doc", b"one")
    put(client, "/rest/doc", b"two")
    old = get(client, "GET", f"/rest/doc?version={first}")
    assert (old.status, old.body, old.header("X-HCP-VersionId")) == (200, b"one", str(first))
    assert get(client, "HEAD", f"/rest/doc?version={first}").status == 200
    assert get(client, "GET", "/rest/doc").body == b"two"
    assert get(client, "GET", "/rest/doc?version=12345").status == 404
    assert get(client, "GET", "/rest/doc?version=latest").status == 400


def test_delete_marker(client: Client) -> None:
    first = put(client, "/rest/doc", b"one")
    assert get(client, "DELETE", "/rest/doc").status == 200
    assert get(client, "GET", "/rest/doc").status == 404
    assert get(client, "HEAD", "/rest/doc").status == 404
    plain = get(client, "GET", "/rest/doc?version=list").xml()
    assert plain.get("deleted") == "true" and len(plain) == 1
    shown = get(client, "GET", "/rest/doc?version=list&deleted=true").xml()
    assert [e.get("state") for e in shown] == ["created", "deleted"]
    marker = shown[1].get("version")
    assert get(client, "GET", f"/rest/doc?version={marker}").status == 204
    assert get(client, "HEAD", f"/rest/doc?version={marker}").status == 204
    assert get(client, "GET", f"/rest/doc?version={first}").body == b"one"
    assert get(client, "DELETE", "/rest/doc").status == 404
    put(client, "/rest/doc", b"back")
    assert get(client, "GET", "/rest/doc").body == b"back"


def test_purge_removes_all_versions(client: Client) -> None:
    put(client, "/rest/doc", b"1")
    put(client, "/rest/doc", b"2")
    assert get(client, "DELETE", "/rest/doc?purge=true").status == 200
    assert get(client, "GET", "/rest/doc?version=list").status == 404
    stats = get(client, "GET", "/proc/statistics").xml()
    assert stats.get("objectCount") == "0"


def test_version_list_needs_versioning(client: Client) -> None:
    client.put("/rest/doc", b"x")
    assert client.request("GET", "/rest/doc?version=list").status == 400


def test_new_version_inherits_system_metadata(client: Client) -> None:
    put(client, "/rest/doc?shred=true&index=false", b"1")
    put(client, "/rest/doc?index=true", b"2")
    head = get(client, "HEAD", "/rest/doc")
    assert (head.header("X-HCP-Shred"), head.header("X-HCP-Index")) == ("true", "true")


def test_deleting_one_version_is_not_supported(client: Client) -> None:
    first = put(client, "/rest/doc", b"1")
    assert get(client, "DELETE", f"/rest/doc?version={first}").status == 400
