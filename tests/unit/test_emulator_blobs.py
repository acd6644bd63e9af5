"""Blobs held in memory in the pieces a chunked body arrived in."""

import random

import pytest

from hcpfs.emulator.blobs import CHUNK, MemoryBlob


def test_ranges_across_pieces_read_like_one_buffer() -> None:
    rng = random.Random(7)
    parts = [rng.randbytes(rng.randint(0, 3 * CHUNK)) for _ in range(6)]
    whole = b"".join(parts)
    blob = MemoryBlob(parts)
    assert blob.size == len(whole)
    assert blob.read() == whole
    for _ in range(200):
        start = rng.randint(0, len(whole))
        stop = rng.randint(start, len(whole))
        pieces = list(blob.chunks(start, stop))
        assert b"".join(bytes(piece) for piece in pieces) == whole[start:stop]
        assert all(len(piece) <= CHUNK for piece in pieces)


@pytest.mark.parametrize("data", [b"", [], [b""], [b"", b""]])
def test_empty_blobs(data: bytes | list[bytes]) -> None:
    blob = MemoryBlob(data)
    assert (blob.size, blob.read()) == (0, b"")
