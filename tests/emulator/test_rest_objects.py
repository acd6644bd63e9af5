"""Objects over REST: PUT, GET, HEAD, DELETE and the headers of hcp-protocol §3.1, §4.1-§4.4."""

from __future__ import annotations

import gzip
import hashlib
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from hcpfs.emulator import Emulator

if TYPE_CHECKING:
    from conftest import Client

DATA = b"The quick brown fox jumps over the lazy dog\n"
# Every header §4.2.1 lists for an object GET/HEAD.
OBJECT_HEADERS = [
    "Content-Type",
    "ETag",
    "X-HCP-Type",
    "X-HCP-Size",
    "X-HCP-Hash",
    "X-HCP-VersionId",
    "X-HCP-IngestTime",
    "X-HCP-IngestTimeMilliseconds",
    "X-HCP-RetentionClass",
    "X-HCP-RetentionString",
    "X-HCP-Retention",
    "X-HCP-IngestProtocol",
    "X-HCP-RetentionHold",
    "X-HCP-Shred",
    "X-HCP-DPL",
    "X-HCP-Index",
    "X-HCP-Custom-Metadata",
    "X-HCP-CustomMetadataAnnotations",
    "X-HCP-ACL",
    "X-HCP-Owner",
    "X-HCP-Domain",
    "X-HCP-UID",
    "X-HCP-GID",
    "X-HCP-Replicated",
    "X-HCP-ReplicationCollision",
    "X-HCP-ChangeTimeMilliseconds",
    "X-HCP-ChangeTimeString",
    "Last-Modified",
]


def test_put_answers_201_with_location_etag_hash_and_version(client: Client) -> None:
    reply = client.put("/rest/docs/fox.txt", DATA)
    assert reply.status == 201 and reply.body == b""
    assert reply.header("Location") == "/rest/docs/fox.txt"
    assert reply.header("ETag") == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert reply.header("X-HCP-Hash") == "SHA-256 " + hashlib.sha256(DATA).hexdigest().upper()
    assert re.fullmatch(r"\d{14,16}", reply.header("X-HCP-VersionId") or "")
    ingest = int(reply.header("X-HCP-IngestTimeMilliseconds") or 0)
    assert abs(ingest / 1000 - time.time()) < 60
    assert reply.header("Content-Length") == "0"


def test_get_returns_data_and_every_documented_header(client: Client) -> None:
    stored = client.put("/rest/docs/fox.txt", DATA)
    reply = client.request("GET", "/rest/docs/fox.txt")
    assert reply.status == 200 and reply.body == DATA
    missing = [name for name in OBJECT_HEADERS if reply.header(name) is None]
    assert missing == []
    assert reply.header("Content-Length") == str(len(DATA))
    assert reply.header("Content-Type") == "text/plain"
    assert reply.header("X-HCP-Type") == "object"
    assert reply.header("X-HCP-Size") == str(len(DATA))
    assert reply.header("ETag") == stored.header("ETag")
    assert reply.header("X-HCP-Hash") == stored.header("X-HCP-Hash")
    assert reply.header("X-HCP-VersionId") == stored.header("X-HCP-VersionId")
    assert reply.header("X-HCP-Retention") == "0"
    assert reply.header("X-HCP-RetentionString") == "Deletion Allowed"
    assert reply.header("X-HCP-RetentionClass") == ""
    assert reply.header("X-HCP-IngestProtocol") == "HTTP"
    assert reply.header("X-HCP-Owner") == "dev"
    assert reply.header("X-HCP-Index") == "true"
    assert reply.header("X-HCP-Shred") == "false"
    assert reply.header("X-HCP-Custom-Metadata") == "false"
    change = reply.header("X-HCP-ChangeTimeMilliseconds") or ""
    assert re.fullmatch(r"\d{13}\.\d\d", change)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", reply.header("X-HCP-ChangeTimeString") or ""
    )
    ingest = int(reply.header("X-HCP-IngestTime") or 0)
    assert int(reply.header("X-HCP-IngestTimeMilliseconds") or 0) // 1000 == ingest


def test_head_has_the_headers_but_no_body(client: Client) -> None:
    client.put("/rest/docs/fox.txt", DATA)
    get = client.request("GET", "/rest/docs/fox.txt")
    head = client.request("HEAD", "/rest/docs/fox.txt")
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == str(len(DATA))
    for name in OBJECT_HEADERS:
        assert head.header(name) == get.header(name), name
    assert client.request("HEAD", "/rest/docs/missing").status == 404
    # the connection is still usable: nothing was sent after the HEAD headers
    assert client.request("GET", "/rest/docs/fox.txt").body == DATA


def test_content_type_is_kept_or_guessed(client: Client) -> None:
    client.put("/rest/a.bin", b"x", headers={"Content-Type": "image/png"})
    client.put("/rest/b.unknownext", b"x")
    assert client.request("HEAD", "/rest/a.bin").header("Content-Type") == "image/png"
    unknown = client.request("HEAD", "/rest/b.unknownext").header("Content-Type")
    assert unknown == "application/octet-stream"


def test_no_overwrite_without_versioning(client: Client) -> None:
    assert client.put("/rest/once", b"1").status == 201
    second = client.put("/rest/once", b"2")
    assert second.status == 409 and second.header("X-HCP-ErrorMessage")
    assert client.request("GET", "/rest/once").body == b"1"


def test_new_version_with_versioning(client: Client, hcp: Emulator) -> None:
    host = "versioned.dev.hcp.example.com"
    first = client.put("/rest/doc", b"1", host=host)
    second = client.put("/rest/doc", b"2", host=host)
    assert (first.status, second.status) == (201, 201)
    assert int(second.header("X-HCP-VersionId") or 0) > int(first.header("X-HCP-VersionId") or 0)
    assert client.request("GET", "/rest/doc", host=host).body == b"2"


def test_put_on_a_directory_is_409(client: Client) -> None:
    client.put("/rest/dir/inner", b"x")
    assert client.put("/rest/dir", b"x").status == 409


def test_delete(client: Client) -> None:
    client.put("/rest/gone", b"x")
    assert client.request("DELETE", "/rest/gone").status == 200
    assert client.request("GET", "/rest/gone").status == 404
    assert client.request("DELETE", "/rest/gone").status == 404


def test_empty_object(client: Client) -> None:
    assert client.put("/rest/empty", b"").status == 201
    reply = client.request("GET", "/rest/empty")
    assert (reply.status, reply.body, reply.header("X-HCP-Size")) == (200, b"", "0")
    assert reply.header("ETag") == f'"{hashlib.md5(b"").hexdigest()}"'


def test_names_with_spaces_and_unicode(client: Client) -> None:
    name = "dir with space/é+#?.txt"
    url = "/rest/" + quote(name)
    assert client.put(url, b"x").status == 201
    assert client.request("GET", url).body == b"x"
    assert client.request("GET", url.replace("%C3%A9", "%c3%a9")).status == 200


def test_path_longer_than_4095_bytes_is_414(client: Client) -> None:
    assert client.put("/rest/" + "a" * 4096, b"x").status == 414
    assert client.put("/rest/" + "a/" * 2000, b"x").status == 201


def test_common_headers_on_success_and_error(client: Client, hcp: Emulator) -> None:
    ok = client.request("GET", "/rest")
    bad = client.request("GET", "/rest/missing")
    for reply in (ok, bad):
        assert reply.header("Server") == "HCP V" + hcp.system.config.software_version
        assert reply.header("X-HCP-ServicedBySystem") == "hcp.example.com"
        assert reply.header("X-HCP-SoftwareVersion") == hcp.system.config.software_version
        assert re.fullmatch(r"[0-9A-F]{16}", reply.header("X-RequestId") or "")
        assert abs(int(reply.header("X-HCP-Time") or 0) - time.time()) < 60
        assert reply.header("Date")
    assert ok.header("Cache-Control") == "no-cache,no-store"
    assert ok.header("Pragma") == "no-cache"
    assert ok.header("Expires") == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert ok.header("X-HCP-ErrorMessage") is None
    assert bad.status == 404 and bad.body == b""
    assert bad.header("X-HCP-ErrorMessage")
    assert bad.header("Cache-Control") is None and bad.header("Expires") is None
    assert ok.header("X-RequestId") != bad.header("X-RequestId")


def test_bad_query_parameters_are_400(client: Client) -> None:
    client.put("/rest/doc", b"x")
    assert client.request("GET", "/rest/doc?colour=red").status == 400
    assert client.put("/rest/doc2?shred=maybe", b"x").status == 400
    assert client.put("/rest/doc3?retention=sometime", b"x").status == 400
    assert client.put("/rest/doc4?type=acl", b"x").status == 400
    assert client.request("GET", "/rest/doc?version=abc").status == 400


def test_urls_outside_rest_and_proc(client: Client) -> None:
    assert client.request("GET", "/").status == 400
    assert client.request("GET", "/REST/doc").status == 400
    assert client.request("GET", "/restless").status == 400
    assert client.request("OPTIONS", "/rest").status == 405


def test_gzip_upload_is_stored_decompressed(client: Client) -> None:
    packed = gzip.compress(DATA * 100)
    reply = client.put("/rest/packed.txt", packed, headers={"Content-Encoding": "gzip"})
    assert reply.status == 201
    assert reply.header("ETag") == f'"{hashlib.md5(DATA * 100).hexdigest()}"'
    assert client.request("GET", "/rest/packed.txt").body == DATA * 100
    assert client.put("/rest/bad", b"not gzip", headers={"Content-Encoding": "gzip"}).status == 400
    assert client.put("/rest/x", b"x", headers={"Content-Encoding": "deflate"}).status == 415


def test_large_object_round_trip(client: Client) -> None:
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    reply = client.put("/rest/big.bin", data)
    assert reply.status == 201
    assert reply.header("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    got = client.request("GET", "/rest/big.bin")
    assert got.body == data
