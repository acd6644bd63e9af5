"""Conditional requests, byte ranges and gzip responses (hcp-protocol §4.1.3, §4.2.2-§4.2.5)."""

from __future__ import annotations

import gzip
from email.utils import formatdate
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Client

DATA = bytes(range(256)) * 40  # 10,240 bytes
VERSIONED = "versioned.dev.hcp.example.com"


@pytest.fixture
def etag(client: Client) -> str:
    reply = client.put("/rest/doc", DATA)
    return reply.header("ETag") or ""


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def test_if_match_and_if_none_match_on_get_and_head(client: Client, etag: str) -> None:
    for method in ("GET", "HEAD"):
        assert client.request(method, "/rest/doc", headers={"If-Match": etag}).status == 200
        assert client.request(method, "/rest/doc", headers={"If-Match": '"abc"'}).status == 412
        both = f'"abc", {etag}'
        assert client.request(method, "/rest/doc", headers={"If-Match": both}).status == 200
        not_modified = client.request(method, "/rest/doc", headers={"If-None-Match": etag})
        assert (not_modified.status, not_modified.body) == (304, b"")
        assert not_modified.header("ETag") == etag
        assert client.request(method, "/rest/doc", headers={"If-None-Match": "*"}).status == 304
        other = client.request(method, "/rest/doc", headers={"If-None-Match": '"abc"'})
        assert other.status == 200


def test_date_conditions(client: Client, etag: str) -> None:
    changed = client.request("HEAD", "/rest/doc").header("Last-Modified") or ""
    future, past = http_date(4102444800), http_date(946684800)  # 2100 and 2000
    assert client.request("GET", "/rest/doc", headers={"If-Modified-Since": future}).status == 304
    assert client.request("GET", "/rest/doc", headers={"If-Modified-Since": changed}).status == 304
    assert client.request("GET", "/rest/doc", headers={"If-Modified-Since": past}).status == 200
    early = client.request("GET", "/rest/doc", headers={"If-Unmodified-Since": past})
    assert early.status == 412
    late = client.request("GET", "/rest/doc", headers={"If-Unmodified-Since": future})
    assert late.status == 200
    junk = client.request("GET", "/rest/doc", headers={"If-Modified-Since": "yesterday"})
    assert junk.status == 200


def test_conditional_put(client: Client) -> None:
    create_only = {"If-None-Match": "*"}
    assert client.put("/rest/v", b"1", host=VERSIONED, headers=create_only).status == 201
    assert client.put("/rest/v", b"2", host=VERSIONED, headers=create_only).status == 412
    current = client.request("HEAD", "/rest/v", host=VERSIONED).header("ETag") or ""
    assert client.put("/rest/v", b"3", host=VERSIONED, headers={"If-Match": '"x"'}).status == 412
    assert client.put("/rest/v", b"4", host=VERSIONED, headers={"If-Match": current}).status == 201
    stale = client.put("/rest/v", b"5", host=VERSIONED, headers={"If-None-Match": current})
    assert stale.status == 201  # the current version changed since
    future = {"If-Modified-Since": http_date(4102444800)}
    assert client.put("/rest/v", b"6", host=VERSIONED, headers=future).status == 304
    past = {"If-Unmodified-Since": http_date(946684800)}
    assert client.put("/rest/v", b"7", host=VERSIONED, headers=past).status == 412
    assert client.request("GET", "/rest/v", host=VERSIONED).body == b"5"
    assert client.put("/rest/new", b"1", host=VERSIONED, headers={"If-Match": "*"}).status == 412


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, len(DATA)),
        ("bytes=-10", len(DATA) - 10, len(DATA)),
        ("bytes=10000-99999", 10000, len(DATA)),
        ("bytes=5-5", 5, 6),
        ("bytes=0-1,5-6", 0, 2),
    ],
)
def test_ranges(client: Client, etag: str, header: str, start: int, stop: int) -> None:
    reply = client.request("GET", "/rest/doc", headers={"Range": header})
    assert reply.status == 206
    assert reply.body == DATA[start:stop]
    assert reply.header("Content-Range") == f"bytes {start}-{stop - 1}/{len(DATA)}"
    assert reply.header("Content-Length") == str(stop - start)
    assert reply.header("X-HCP-Size") == str(len(DATA))


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_ranges(client: Client, etag: str, header: str) -> None:
    assert client.request("GET", "/rest/doc", headers={"Range": header}).status == 416


def test_unparsable_range_is_ignored(client: Client, etag: str) -> None:
    reply = client.request("GET", "/rest/doc", headers={"Range": "lines=1-2"})
    assert (reply.status, reply.body) == (200, DATA)


def test_gzip_response(client: Client, etag: str) -> None:
    reply = client.request("GET", "/rest/doc", headers={"Accept-Encoding": "gzip, deflate"})
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"
    assert reply.header("X-HCP-ContentLength") == str(len(DATA))
    assert reply.header("Content-Length") == str(len(reply.body))
    assert gzip.decompress(reply.body) == DATA
    star = client.request("GET", "/rest/doc", headers={"Accept-Encoding": "*"})
    assert star.header("Content-Encoding") == "gzip"
    plain = client.request("GET", "/rest/doc", headers={"Accept-Encoding": "identity"})
    assert (plain.body, plain.header("Content-Encoding")) == (DATA, None)
    refused = client.request("GET", "/rest/doc", headers={"Accept-Encoding": "br"})
    assert refused.status == 406


def test_large_gzip_response_is_streamed(client: Client) -> None:
    data = b"0123456789abcdef" * (600 * 1024)  # 9.6 MiB, above the in-memory limit
    client.put("/rest/large", data)
    reply = client.request("GET", "/rest/large", headers={"Accept-Encoding": "gzip"})
    assert reply.header("Transfer-Encoding") == "chunked"
    assert gzip.decompress(reply.body) == data
