"""Request bodies, gzip uploads, query strings and XML escaping without sockets."""

from __future__ import annotations

import gzip
import io
import xml.etree.ElementTree as ET

import pytest

from hcpfs.emulator import formats, xmldoc
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.exchange import BodyReader, chunks, gunzip, parse_query


def test_length_body_and_continue_callback() -> None:
    sent: list[str] = []
    reader = BodyReader(io.BytesIO(b"0123456789rest"), 10, lambda: sent.append("100"))
    assert sent == []
    assert b"".join(chunks(reader, 3)) == b"0123456789"
    assert sent == ["100"] and reader.done and reader.received == 10


def test_short_body_is_503() -> None:
    reader = BodyReader(io.BytesIO(b"abc"), 10)
    with pytest.raises(HcpError) as caught:
        b"".join(chunks(reader))
    assert caught.value.status == 503 and reader.broken


def test_chunked_body_with_extensions_and_trailers() -> None:
    raw = b"4;name=x\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: y\r\n\r\nNEXT"
    stream = io.BufferedReader(io.BytesIO(raw))
    reader = BodyReader(stream, None)
    assert b"".join(chunks(reader, 2)) == b"Wikipedia"
    assert stream.read() == b"NEXT"


def test_malformed_chunk_size() -> None:
    reader = BodyReader(io.BufferedReader(io.BytesIO(b"zz\r\n")), None)
    with pytest.raises(HcpError) as caught:
        reader.read(10)
    assert caught.value.status == 400


def test_drain_small_rest() -> None:
    reader = BodyReader(io.BytesIO(b"x" * 100), 100)
    assert reader.drain(1000) and reader.done
    big = BodyReader(io.BytesIO(b"x" * 100), 100)
    assert not big.drain(10)


def test_gunzip_streams_and_refuses_garbage() -> None:
    data = bytes(range(256)) * 4000
    packed = gzip.compress(data)
    pieces = [packed[i : i + 1000] for i in range(0, len(packed), 1000)]
    assert b"".join(gunzip(pieces)) == data
    with pytest.raises(HcpError) as caught:
        b"".join(gunzip([b"plain text"]))
    assert caught.value.status == 400
    with pytest.raises(HcpError):
        b"".join(gunzip([packed[:-20]]))


def test_query_keeps_plus_and_first_value() -> None:
    query = parse_query("retention=A+10y&hold=true&hold=false&nowait&reason=a%20b%2Bc")
    assert query == {"retention": "A+10y", "hold": "true", "nowait": "", "reason": "a b+c"}


def test_escaping_survives_a_parser() -> None:
    name = 'a&b<c>"d"\ttab\nline'
    document = f'<e v="{xmldoc.esc(name)}"/>'
    assert ET.fromstring(document).get("v") == name


def test_url_names() -> None:
    assert formats.url_name("Test1-2.log") == "Test1-2.log"
    assert formats.url_name("a b+c#d?é") == "a%20b%2Bc%23d%3F%C3%A9"
    assert formats.change_millis(152265646272900) == "1522656462729.00"
    assert formats.change_millis(152265646272907) == "1522656462729.07"
