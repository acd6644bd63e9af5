"""HTTP behaviour of a node: keep-alive, bodies, 100-continue, 411, 503, fault hooks, logging
(hcp-protocol §3, §4.1.1, §14)."""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hcpfs.emulator import Emulator, Faults
from hcpfs.emulator.exchange import Readable, Writable
from hcpfs.emulator.server import Node

if TYPE_CHECKING:
    from conftest import Client


def request_head(hcp: Emulator, method: str, path: str, extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {hcp.host}\r\n"
        f"Authorization: {hcp.auth_header}\r\n{extra}\r\n"
    ).encode()


def status_line(data: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def test_keep_alive_serves_many_requests_on_one_connection(client: Client) -> None:
    client.put("/rest/a", b"1")
    sock = client.conn.sock
    for _ in range(20):
        assert client.request("GET", "/rest/a").body == b"1"
    assert client.conn.sock is sock


def test_chunked_upload(client: Client, hcp: Emulator) -> None:
    pieces = [b"alpha-" * 1000, b"", b"beta", b"gamma" * 50000]
    conn = client.conn
    conn.putrequest("PUT", "/rest/chunked.bin", skip_host=True)
    conn.putheader("Host", hcp.host)
    conn.putheader("Authorization", hcp.auth_header)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for piece in pieces:
        if piece:
            conn.send(b"%X\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    response.read()
    assert response.status == 201
    data = b"".join(pieces)
    assert response.getheader("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert client.request("GET", "/rest/chunked.bin").body == data


def test_expect_100_continue(client: Client, hcp: Emulator) -> None:
    with socket.create_connection((hcp.addresses[0], hcp.port), timeout=10) as sock:
        sock.sendall(
            request_head(
                hcp, "PUT", "/rest/expect", "Content-Length: 5\r\nExpect: 100-continue\r\n"
            )
        )
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"hello")
        final = sock.recv(65536)
        assert status_line(final) == [201]
    assert client.request("GET", "/rest/expect").body == b"hello"


def test_expect_100_continue_refused_before_the_body(client: Client, hcp: Emulator) -> None:
    client.put("/rest/exists", b"x")
    head = request_head(
        hcp, "PUT", "/rest/exists", "Content-Length: 100000000\r\nExpect: 100-continue\r\n"
    )
    answer = client.raw(head)
    assert status_line(answer) == [409]
    assert b"Connection: close" in answer


def test_put_without_length_is_411(client: Client, hcp: Emulator) -> None:
    answer = client.raw(request_head(hcp, "PUT", "/rest/nolength"))
    assert status_line(answer) == [411]
    assert b"Connection: close" in answer
    assert client.request("HEAD", "/rest/nolength").status == 404


def test_body_shorter_than_content_length_is_503(client: Client, hcp: Emulator) -> None:
    head = request_head(hcp, "PUT", "/rest/short", "Content-Length: 100\r\n")
    answer = client.raw(head + b"only ten b", half_close=True)
    assert status_line(answer) == [503]
    assert b"X-HCP-ErrorMessage: " in answer
    assert client.request("HEAD", "/rest/short").status == 404


def test_small_unread_body_keeps_the_connection(client: Client) -> None:
    client.put("/rest/taken", b"x")
    sock = client.conn.sock
    assert client.put("/rest/taken", b"y" * 1000).status == 409
    assert client.request("GET", "/rest/taken").body == b"x"
    assert client.conn.sock is sock


def test_malformed_request_line(client: Client) -> None:
    answer = client.raw(b"NONSENSE\r\n\r\n")
    assert status_line(answer) == [400]


class Recording(Faults):
    """Fault hooks that record their calls and refuse one path with 503."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def on_connection(self, node: Node) -> None:
        with self.lock:
            self.calls.append(f"connection {node.address}")

    def before_request(self, node: Node, method: str, path: str) -> int | None:
        with self.lock:
            self.calls.append(f"{method} {path}")
        return 503 if path.endswith("/busy") else None

    def wrap_request_body(self, node: Node, reader: Readable) -> Readable:
        faults = self

        class Counting:
            def read(self, size: int = -1, /) -> bytes:
                data = reader.read(size)
                with faults.lock:
                    faults.calls.append(f"read {len(data)}")
                return data

        return Counting()

    def wrap_response_body(self, node: Node, writer: Writable) -> Writable:
        faults = self

        class Cut:
            def write(self, data: bytes | memoryview, /) -> object:
                with faults.lock:
                    faults.calls.append(f"write {len(data)}")
                return writer.write(data)

        return Cut()


@pytest.fixture
def recording(hcp: Emulator) -> Iterator[Recording]:
    faults = Recording()
    hcp.system.faults = faults
    try:
        yield faults
    finally:
        hcp.system.faults = Faults()


def test_fault_hooks_are_called_at_their_points(hcp: Emulator, recording: Recording) -> None:
    conn = http.client.HTTPConnection(hcp.addresses[0], hcp.port, timeout=10)
    headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
    try:
        conn.request("PUT", "/rest/f", body=b"12345", headers=headers)
        assert conn.getresponse().read() == b""
        conn.request("GET", "/rest/f", headers=headers)
        assert conn.getresponse().read() == b"12345"
        conn.request("GET", "/rest/busy", headers=headers)
        busy = conn.getresponse()
        busy.read()
    finally:
        conn.close()
    assert busy.status == 503 and busy.getheader("X-HCP-ErrorMessage")
    assert recording.calls[0] == f"connection {hcp.addresses[0]}"
    assert recording.calls[1] == "PUT /rest/f"
    assert "read 5" in recording.calls
    assert recording.calls[-3:] == ["GET /rest/f", "write 5", "GET /rest/busy"]


def test_logs_one_line_per_request_and_never_credentials(
    client: Client, hcp: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    password = hcp.password
    digest = hashlib.md5(password.encode()).hexdigest()
    token = hcp.auth_header.removeprefix("HCP ")
    cookie = {"Cookie": "hcp-ns-auth=" + token}
    with caplog.at_level(logging.DEBUG, logger="hcpfs"):
        client.put("/rest/logged.txt", b"secret body")
        client.request("GET", "/rest/logged.txt", headers=cookie)
        client.request("GET", "/rest/logged.txt", auth=f"AD dev:{password}")
        client.request("GET", "/rest/logged.txt", auth="HCP ZGV2:" + digest.upper())
        client.request("GET", "/rest/logged.txt", auth="HCP bad-token")
        client.request("GET", "/proc/statistics")
        # A node logs a request after answering it: wait for the last line.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "/proc/statistics 200" not in caplog.text:
            time.sleep(0.01)
    text = caplog.text
    for secret in (password, digest, digest.upper(), token, "secret body"):
        assert secret not in text
    lines = [r.getMessage() for r in caplog.records if r.name == "hcpfs.emulator.server"]
    requests = [line for line in lines if re.match(r"(PUT|GET) /(rest/logged|proc)", line)]
    assert len(requests) == 6
    assert re.fullmatch(r"PUT /rest/logged\.txt 201 11 127\.0\.0\.1 \d+\.\dms", requests[0])
    assert requests[4].startswith("GET /rest/logged.txt 403 ")
