"""What the SDK's pools put on the wire for a body of unknown length: chunked framing made
without copying the pieces, checked byte for byte on a loopback socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from urllib3 import Timeout

from hcpfs.sdk.pool import PoolSpec, Urllib3Pool

DEADLINE = 10.0


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """A one-request HTTP server on 127.0.0.1 that records the raw request and answers 201."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(DEADLINE)
    received: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(DEADLINE)
            data = b""
            while not _complete(data) and len(data) < 1 << 20:
                piece = connection.recv(65536)
                if not piece:
                    break
                data += piece
            received.append(data)
            connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        thread.join(DEADLINE)
        listener.close()


def test_a_body_of_unknown_length_is_sent_chunked(server: tuple[int, list[bytes]]) -> None:
    port, received = server
    spec = PoolSpec("127.0.0.1", port, "ns1.dev.hcp.example.com", False, None, True, None, 1)
    pool = Urllib3Pool(spec)
    pieces = [b"a" * 70000, b"", b"bc", b"d" * 5]
    reply = pool.send("PUT", "/rest/f", iter(pieces), {"Host": "h"}, Timeout(DEADLINE))
    assert reply.response.status == 201
    pool.close()

    head, _, body = received[0].partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert b"transfer-encoding: chunked" in lines
    assert not any(line.startswith(b"content-length") for line in lines)
    assert body == b"11170\r\n" + b"a" * 70000 + b"\r\n2\r\nbc\r\n5\r\nddddd\r\n0\r\n\r\n"


def test_a_body_of_known_length_is_sent_as_it_is(server: tuple[int, list[bytes]]) -> None:
    port, received = server
    spec = PoolSpec("127.0.0.1", port, "ns1.dev.hcp.example.com", False, None, True, None, 1)
    pool = Urllib3Pool(spec)
    headers = {"Host": "h", "Content-Length": "6"}
    reply = pool.send("PUT", "/rest/f", iter([b"abc", b"def"]), headers, Timeout(DEADLINE))
    assert reply.response.status == 201
    pool.close()

    head, _, body = received[0].partition(b"\r\n\r\n")
    assert b"content-length: 6" in head.lower().split(b"\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"abcdef"


def _complete(data: bytes) -> bool:
    """Tell whether ``data`` holds a whole request, framed by length or chunked."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return body.endswith(b"0\r\n\r\n")
