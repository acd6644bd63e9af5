"""Which failed requests may be sent again, and how their bodies are rewound."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from hcpfs.sdk.retry import Failure, Payload, may_retry

METHODS = ("GET", "HEAD", "DELETE", "PUT", "POST")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rewindable", [True, False])
def test_nothing_sent_is_always_retried(method: str, rewindable: bool) -> None:
    assert may_retry(method, Failure.CONNECT, rewindable)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("failure", [Failure.TIMEOUT, Failure.BROKEN, Failure.BUSY])
def test_sent_requests_are_retried_only_when_idempotent_and_rewindable(
    method: str, failure: Failure
) -> None:
    idempotent = method != "POST"
    assert may_retry(method, failure, rewindable=True) is idempotent
    assert may_retry(method, failure, rewindable=False) is False


@pytest.mark.parametrize("method", METHODS)
def test_certificate_failures_are_never_retried(method: str) -> None:
    assert not may_retry(method, Failure.CERTIFICATE, rewindable=True)


@pytest.mark.parametrize(
    ("body", "wire", "length"),
    [
        (None, None, 0),
        (b"abc", b"abc", 3),
        (bytearray(b"abc"), b"abc", 3),
        (memoryview(b"abcd"), b"abcd", 4),
        ("grüß", "grüß".encode(), 6),
    ],
)
def test_bytes_and_text_are_rewindable(body: object, wire: bytes | None, length: int) -> None:
    payload = Payload(body)  # type: ignore[arg-type]  # the parameters mix the body types
    assert payload.body == wire
    assert payload.length == length
    assert payload.rewindable


def test_a_seekable_file_is_rewound_to_where_it_started() -> None:
    stream = io.BytesIO(b"0123456789")
    stream.seek(3)
    payload = Payload(stream)
    assert (payload.rewindable, payload.length) == (True, 7)
    assert stream.tell() == 3, "measuring the length must not move the stream"
    assert stream.read() == b"3456789"
    payload.rewind()
    assert stream.read() == b"3456789"


class _Pipe(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return 0


class _LyingFile(io.BytesIO):
    def tell(self) -> int:
        raise OSError("not really seekable")


def _chunks() -> Iterator[bytes]:
    yield b"a"
    yield b"b"


@pytest.mark.parametrize("body", [_Pipe(), _LyingFile(b"x"), _chunks(), [b"a", b"b"]])
def test_streams_and_iterables_are_not_rewindable(body: object) -> None:
    payload = Payload(body)  # type: ignore[arg-type]  # the parameters mix the body types
    assert not payload.rewindable
    assert payload.length is None
    payload.rewind()  # harmless
