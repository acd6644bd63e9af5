"""The directory listing XML of the emulator made in pieces: the same bytes as in one piece."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

from hcpfs.emulator import xmldoc
from hcpfs.emulator.model import DirState

STATE = DirState(version_id=1, created=152177565452100, latest=152177565452107)
Attributes = list[tuple[str, str]]


def entries(count: int) -> list[tuple[str, Attributes]]:
    return [
        (f"f{n}", [("urlName", f"f{n}"), ("utf8Name", f"f{n} <&\n>"), ("type", "object")])
        for n in range(count)
    ]


def test_pieces_join_to_the_whole_listing_for_any_batch() -> None:
    listed = entries(10)
    whole = xmldoc.directory("d", "ns1", STATE, listed, False)
    for batch in (1, 2, 3, 4, 100):
        pieces = list(xmldoc.directory_pieces("d", "ns1", STATE, listed, False, batch=batch))
        assert b"".join(pieces) == whole
        assert len(pieces) > 1 or batch == 100
        assert all(piece.count(b"<entry ") <= batch for piece in pieces)
    root = ElementTree.fromstring(whole)
    assert [entry.get("utf8Name") for entry in root] == [f"f{n} <&\n>" for n in range(10)]
    assert whole.count(b"\n  <entry ") == 10


def test_pieces_are_made_only_when_asked_for() -> None:
    made: list[int] = []

    def lazily() -> Iterator[tuple[str, Attributes]]:
        for number, item in enumerate(entries(8)):
            made.append(number)
            yield item

    pieces = xmldoc.directory_pieces("", "ns1", STATE, lazily(), True, batch=4)
    first = next(pieces)
    assert b"<directory " in first and first.count(b"<entry ") == 1
    assert made == [0]
    rest = b"".join(pieces)
    assert made == list(range(8))
    assert rest.count(b"<entry ") == 7 and rest.endswith(b"</directory>\n")
