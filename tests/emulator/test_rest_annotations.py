"""Annotations (custom metadata) over REST (hcp-protocol §4.1.2, §4.2.4, §7)."""

from __future__ import annotations

import gzip
import hashlib
from typing import TYPE_CHECKING

from hcpfs.emulator import Emulator

if TYPE_CHECKING:
    from conftest import Client

NOTE = b"<note><to>you</to></note>"


def test_store_read_and_list(client: Client) -> None:
    stored = client.put("/rest/doc", b"data")
    put = client.put("/rest/doc?type=custom-metadata", NOTE)
    assert put.status == 201
    assert put.header("X-HCP-Hash") == "SHA-256 " + hashlib.sha256(NOTE).hexdigest().upper()
    client.put("/rest/doc?type=custom-metadata&annotation=extra", b"plain text")
    got = client.request("GET", "/rest/doc?type=custom-metadata")
    assert (got.status, got.body) == (200, NOTE)
    assert got.header("X-HCP-Type") == "annotation"
    assert got.header("X-HCP-Size") == str(len(NOTE))
    assert got.header("Content-Type") == "text/xml"
    assert got.header("ETag") == stored.header("ETag")  # the object's ETag, as HCP sends it
    assert got.header("X-HCP-ChangeTimeMilliseconds")
    head = client.request("HEAD", "/rest/doc?type=custom-metadata&annotation=extra")
    assert (head.status, head.body, head.header("X-HCP-Size")) == (200, b"", "10")
    info = client.request("GET", "/rest/doc?type=custom-metadata-info")
    root = info.xml()
    assert root.tag == "annotations"
    names = [a.findtext("name") for a in root]
    assert names == ["default", "extra"]
    default = root[0]
    assert default.findtext("size") == str(len(NOTE))
    assert default.findtext("hash") == put.header("X-HCP-Hash")
    assert default.findtext("contentType") == "unknown"  # no XML checking in ns1
    assert default.findtext("changeTimeMilliseconds") and default.findtext("changeTimeString")
    meta = client.request("HEAD", "/rest/doc")
    assert meta.header("X-HCP-Custom-Metadata") == "true"
    assert meta.header("X-HCP-CustomMetadataAnnotations") == f"default;{len(NOTE)}, extra;10"


def test_missing_annotations(client: Client) -> None:
    client.put("/rest/doc", b"data")
    assert client.request("GET", "/rest/doc?type=custom-metadata").status == 204
    assert client.request("HEAD", "/rest/doc?type=custom-metadata").status == 204
    assert client.request("GET", "/rest/doc?type=custom-metadata-info").status == 204
    assert client.request("DELETE", "/rest/doc?type=custom-metadata").status == 204
    assert client.request("GET", "/rest/none?type=custom-metadata").status == 404
    assert client.put("/rest/none?type=custom-metadata", NOTE).status == 404


def test_delete_annotation(client: Client) -> None:
    client.put("/rest/doc", b"data")
    client.put("/rest/doc?type=custom-metadata&annotation=a1", b"x")
    assert client.request("DELETE", "/rest/doc?type=custom-metadata&annotation=a1").status == 200
    assert client.request("GET", "/rest/doc?type=custom-metadata&annotation=a1").status == 204


def test_refusals(client: Client) -> None:
    client.put("/rest/doc", b"data")
    url = "/rest/doc?type=custom-metadata"
    conditional = client.put(url, NOTE, headers={"If-Match": "*"})
    assert conditional.status == 400
    assert client.put(url + "&annotation=bad%20name", NOTE).status == 400
    for n in range(10):
        assert client.put(f"{url}&annotation=n{n}", b"").status == 201
    assert client.put(f"{url}&annotation=n10", b"").status == 400


def test_xml_checking(client: Client, hcp: Emulator) -> None:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.xml_checking = True
    client.put("/rest/doc", b"data")
    bad = client.put("/rest/doc?type=custom-metadata", b"<open>")
    assert bad.status == 400 and "XML" in (bad.header("X-HCP-ErrorMessage") or "")
    assert client.put("/rest/doc?type=custom-metadata", NOTE).status == 201
    info = client.request("GET", "/rest/doc?type=custom-metadata-info").xml()
    assert info[0].findtext("contentType") == "text/xml"
    big = b"<a>" + b"x" * (1024 * 1024) + b"</a>"
    assert client.put("/rest/doc?type=custom-metadata&annotation=big", big).status == 413


def test_whole_object_put_and_get(client: Client) -> None:
    data = b"object bytes"
    reply = client.put(
        "/rest/whole?type=whole-object&annotation=meta",
        data + NOTE,
        headers={"X-HCP-Size": str(len(data)), "Content-Type": "text/plain"},
    )
    assert reply.status == 201
    note_hash = hashlib.sha256(NOTE).hexdigest().upper()
    assert reply.header("X-HCP-CustomMetadataHash") == "SHA-256 " + note_hash
    assert reply.header("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert client.request("GET", "/rest/whole").body == data
    both = client.request("GET", "/rest/whole?type=whole-object&annotation=meta")
    assert both.body == data + NOTE
    assert both.header("X-HCP-Size") == str(len(data))
    assert both.header("Content-Length") == str(len(data + NOTE))
    assert both.header("X-HCP-CustomMetadataFirst") == "false"
    assert both.header("X-HCP-CustomMetadataContentType") == "unknown"
    assert both.header("X-HCP-DataContentType") == "text/plain"
    first = client.request(
        "GET",
        "/rest/whole?type=whole-object&annotation=meta",
        headers={"X-HCP-CustomMetadataFirst": "true"},
    )
    assert first.body == NOTE + data and first.header("X-HCP-CustomMetadataFirst") == "true"
    ranged = client.request(
        "GET", "/rest/whole?type=whole-object&annotation=meta", headers={"Range": "bytes=0-1"}
    )
    assert ranged.status == 400
    assert client.request("GET", "/rest/whole?type=whole-object").status == 404


def test_whole_object_needs_a_valid_size(client: Client) -> None:
    assert client.put("/rest/w1?type=whole-object", b"abc").status == 400
    reply = client.put("/rest/w2?type=whole-object", b"abc", headers={"X-HCP-Size": "10"})
    assert reply.status == 400
    assert client.request("HEAD", "/rest/w2").status == 404


def test_whole_object_with_bad_xml_leaves_an_empty_object(client: Client, hcp: Emulator) -> None:
    namespace = hcp.system.config.tenants[0].namespace("ns1")
    assert namespace is not None
    namespace.xml_checking = True
    reply = client.put("/rest/w?type=whole-object", b"data<bad", headers={"X-HCP-Size": "4"})
    assert reply.status == 400
    head = client.request("HEAD", "/rest/w")
    assert (head.status, head.header("X-HCP-Size")) == (200, "0")


def test_annotations_of_an_old_version(client: Client) -> None:
    host = "versioned.dev.hcp.example.com"
    first = client.put("/rest/doc", b"1", host=host).header("X-HCP-VersionId")
    client.put("/rest/doc?type=custom-metadata", b"old", host=host)
    client.put("/rest/doc", b"2", host=host)
    old = client.request("GET", f"/rest/doc?type=custom-metadata&version={first}", host=host)
    assert old.body == b"old"
    # a new version does not inherit annotations
    assert client.request("GET", "/rest/doc?type=custom-metadata", host=host).status == 204
    refused = client.put(f"/rest/doc?type=custom-metadata&version={first}", b"x", host=host)
    assert refused.status == 400


def test_annotation_policy_under_retention(client: Client) -> None:
    client.put("/rest/doc?retention=N%2B1d", b"data")
    assert client.put("/rest/doc?type=custom-metadata", NOTE).status == 201
    assert client.put("/rest/doc?type=custom-metadata", NOTE).status == 403
    assert client.request("DELETE", "/rest/doc?type=custom-metadata").status == 403


def test_gzip_annotation(client: Client) -> None:
    client.put("/rest/doc", b"data")
    packed = gzip.compress(NOTE)
    headers = {"Content-Encoding": "gzip"}
    assert client.put("/rest/doc?type=custom-metadata", packed, headers=headers).status == 201
    assert client.request("GET", "/rest/doc?type=custom-metadata").body == NOTE
