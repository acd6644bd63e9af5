"""Server-side copy with X-HCP-CopySource (hcp-protocol §4.1.4)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from hcpfs.emulator import Emulator, UserConfig

if TYPE_CHECKING:
    from conftest import Client

VERSIONED = "versioned.dev.hcp.example.com"


def copy(client: Client, target: str, source: str, **headers: str) -> int:
    sent = {"X-HCP-CopySource": source, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return client.put(target, b"", headers=sent).status


def test_copy_within_a_namespace(client: Client) -> None:
    client.put("/rest/src.txt", b"payload")
    client.put("/rest/src.txt?type=custom-metadata", b"<a/>")
    assert copy(client, "/rest/dst.txt", "ns1.dev/src.txt") == 201
    got = client.request("GET", "/rest/dst.txt")
    assert got.body == b"payload"
    assert got.header("ETag") == f'"{hashlib.md5(b"payload").hexdigest()}"'
    assert got.header("X-HCP-Custom-Metadata") == "false"  # NONE is the default
    everything = {"X_HCP_MetadataDirective": "ALL"}
    assert copy(client, "/rest/all.txt", "ns1.dev/rest/src.txt", **everything) == 201
    assert client.request("GET", "/rest/all.txt?type=custom-metadata").body == b"<a/>"
    assert copy(client, "/rest/x", "ns1.dev/src.txt", X_HCP_MetadataDirective="SOME") == 400


def test_copy_a_version_from_another_namespace(client: Client) -> None:
    first = client.put("/rest/v", b"one", host=VERSIONED).header("X-HCP-VersionId")
    client.put("/rest/v", b"two", host=VERSIONED)
    assert copy(client, "/rest/latest", "versioned.dev.hcp.example.com/v") == 201
    assert client.request("GET", "/rest/latest").body == b"two"
    assert copy(client, "/rest/in-header", f"versioned.dev/v?version={first}") == 201
    assert client.request("GET", "/rest/in-header").body == b"one"
    headers = {"X-HCP-CopySource": "versioned.dev/v"}
    reply = client.put(f"/rest/in-query?version={first}", b"", headers=headers)
    assert reply.status == 201
    assert client.request("GET", "/rest/in-query").body == b"one"
    client.request("DELETE", "/rest/v", host=VERSIONED)
    marker = client.request("GET", "/rest/v?version=list&deleted=true", host=VERSIONED).xml()
    assert copy(client, "/rest/m", f"versioned.dev/v?version={marker[-1].get('version')}") == 204
    assert copy(client, "/rest/gone", "versioned.dev/v") == 404


def test_copy_refusals(client: Client) -> None:
    client.put("/rest/src", b"x")
    client.put("/rest/dir/inner", b"x")
    client.put("/rest/taken", b"x")
    assert copy(client, "/rest/a", "ns1.dev/missing") == 404
    assert copy(client, "/rest/a", "nope.dev/src") == 400
    assert copy(client, "/rest/a", "ns1.other/src") == 400
    assert copy(client, "/rest/a", "garbage") == 400
    assert copy(client, "/rest/a", "ns1.dev/dir") == 400
    assert copy(client, "/rest/taken", "ns1.dev/src") == 409


def test_source_conditions(client: Client) -> None:
    etag = client.put("/rest/src", b"x").header("ETag") or ""
    assert copy(client, "/rest/a", "ns1.dev/src", X_HCP_CopySource_If_Match='"nope"') == 412
    assert copy(client, "/rest/b", "ns1.dev/src", X_HCP_CopySource_If_None_Match=etag) == 304
    assert copy(client, "/rest/c", "ns1.dev/src", X_HCP_CopySource_If_Match=etag) == 201
    since = "Sat, 01 Jan 2000 00:00:00 GMT"
    unmodified = {"X_HCP_CopySource_If_Unmodified_Since": since}
    assert copy(client, "/rest/d", "ns1.dev/src", **unmodified) == 412
    modified = {"X_HCP_CopySource_If_Modified_Since": since}
    assert copy(client, "/rest/e", "ns1.dev/src", **modified) == 201


def test_copy_needs_read_on_the_source(client: Client, hcp: Emulator) -> None:
    tenant = hcp.system.config.tenants[0]
    tenant.users.append(UserConfig("w", "pw", {"ns1": frozenset({"write", "read"})}))
    client.put("/rest/src", b"x", host=VERSIONED)
    token = client.token("w", "pw")
    status = client.put(
        "/rest/copied", b"", headers={"X-HCP-CopySource": "versioned.dev/src"}, auth=token
    )
    assert status.status == 403
