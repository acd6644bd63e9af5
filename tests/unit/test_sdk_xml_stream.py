"""Parsing a document that arrives in pieces (hcpfs.sdk.xmldoc.ElementStream): the same
attributes ElementTree reads from the whole document, and the same refusals as xmldoc.parse."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from hcpfs.sdk import xmldoc

LISTING = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/static/xsl/directory.xsl"?>
<directory xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xsi:noNamespaceSchemaLocation="/static/xsd/directory.xsd"
           path="/rest/d" utf8Path="/rest/d" changeTimeMilliseconds="1521775654521.00">
  <entry urlName="a%20b" utf8Name="a b" type="object" size="3" state="created"/>
  <entry urlName="line%0Abreak" utf8Name="line&#10;break" type="object" size="0"/>
  <entry urlName="%C3%BCber" utf8Name="über &amp; &lt;more&gt;" type="directory"/>
  <!-- a comment, then an entry with no attributes -->
  <entry/>
</directory>
""".encode()


def stream_all(document: bytes, size: int) -> tuple[xmldoc.ElementStream, list[dict[str, str]]]:
    stream = xmldoc.ElementStream("entry")
    found: list[dict[str, str]] = []
    for start in range(0, len(document), size):
        found += stream.feed(document[start : start + size])
    found += stream.close()
    return stream, found


@pytest.mark.parametrize("size", [1, 7, 64, len(LISTING)])
def test_pieces_of_any_size_give_what_elementtree_reads(size: int) -> None:
    stream, found = stream_all(LISTING, size)
    root = ElementTree.fromstring(LISTING)
    assert found == [element.attrib for element in root.iter("entry")]
    assert found[1]["utf8Name"] == "line\nbreak"
    assert found[2]["utf8Name"] == "über & <more>"
    assert stream.root == (root.tag, root.attrib)


def test_entries_are_handed_out_as_their_piece_arrives() -> None:
    stream = xmldoc.ElementStream("entry")
    cut = LISTING.index(b'<entry urlName="line')
    first = stream.feed(LISTING[:cut])
    assert [attributes["utf8Name"] for attributes in first] == ["a b"]
    assert len(stream.feed(LISTING[cut:])) == 3
    assert stream.close() == []


def test_names_in_a_namespace_are_written_as_elementtree_writes_them() -> None:
    document = (
        b'<r xmlns="urn:x" xmlns:p="urn:p" p:a="1" b="2"><entry p:c="3"/><p:entry d="4"/></r>'
    )
    stream, found = stream_all(document, 5)
    root = ElementTree.fromstring(document)
    assert stream.root == (root.tag, root.attrib) == ("{urn:x}r", {"{urn:p}a": "1", "b": "2"})
    assert found == []  # both entries are in a namespace: neither is called "entry"
    assert xmldoc.ElementStream("{urn:p}entry").feed(document) == [{"d": "4"}]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_a_doctype_is_refused_before_its_entities_are_used(size: int) -> None:
    document = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x><entry n="&a;"/></x>'
    with pytest.raises(xmldoc.XmlError, match="DOCTYPE"):
        stream_all(document, size)


@pytest.mark.parametrize(
    "document",
    [
        b"<directory><entry a='1'/>",  # ends too early
        b"<directory><entry a='1'></directory>",  # crossed tags
        b"<directory><entry a='1' a='2'/></directory>",  # a repeated attribute
        b"<p:directory/>",  # an unbound prefix
        b"",
    ],
)
def test_a_malformed_document_is_refused(document: bytes) -> None:
    with pytest.raises(xmldoc.XmlError, match="not well-formed"):
        stream_all(document, 4)
