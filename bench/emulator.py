"""Compare the emulator's HTTP speed with a bare ``http.server`` in the same process.

Both servers get the same keep-alive ``http.client`` loop: 4 KiB PUTs and GETs for a few
seconds each (requests per second), then one 256 MiB PUT and GET (MB/s). The bare server does
no work beyond HTTP: it reads and drops PUT bodies and answers GET with a fixed body. The
emulator stores, hashes and indexes every object (in memory, or in ``--data-dir``).

Run: ``python bench/emulator.py [--seconds 3] [--large-mib 256] [--data-dir DIR|tmp]``
(``--data-dir tmp`` uses a temporary directory that is removed afterwards).
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hcpfs.emulator import Emulator

SMALL = 4096
MIB = 1024 * 1024


@dataclass
class Target:
    """Where the loop sends its requests."""

    name: str
    port: int
    headers: dict[str, str]


class BareHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 and nothing else: drop PUT bodies, answer GET with fixed bytes."""

    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes; without TCP_NODELAY every GET would wait for a
    # delayed ACK and the comparison would measure the kernel, not the server.
    disable_nagle_algorithm = True
    large = b""

    def log_message(self, format: str, *args: object) -> None:
        """No access log."""

    def do_PUT(self) -> None:
        remaining = int(self.headers["Content-Length"])
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, MIB)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        body = memoryview(self.large) if self.path.endswith("/large") else b"x" * SMALL
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for offset in range(0, len(body), MIB):
            self.wfile.write(body[offset : offset + MIB])


@contextmanager
def bare_server(large: bytes) -> Iterator[Target]:
    BareHandler.large = large
    server = ThreadingHTTPServer(("127.0.0.1", 0), BareHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Target("bare http.server", server.server_address[1], {"Host": "bare"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def emulator(data_dir: Path | None) -> Iterator[Target]:
    with Emulator(data_dir=data_dir, port=0) as hcp:
        headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
        yield Target("emulator", hcp.port, headers)


def rate(seconds: float, step: Callable[[int], None]) -> float:
    """Call ``step(n)`` with n = 0, 1, ... for ``seconds``; return calls per second."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        step(count)
        count += 1
    return count / (time.perf_counter() - started)


def small_objects(target: Target, seconds: float) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
    body = b"y" * SMALL
    stored = 0

    def put(n: int) -> None:
        nonlocal stored
        conn.request("PUT", f"/rest/bench/d{n % 100}/o{n}", body=body, headers=target.headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
        stored = n + 1

    def get(n: int) -> None:
        name = n % stored
        conn.request("GET", f"/rest/bench/d{name % 100}/o{name}", headers=target.headers)
        response = conn.getresponse()
        assert len(response.read()) == SMALL and response.status == 200

    try:
        return rate(seconds, put), rate(seconds, get)
    finally:
        conn.close()


def large_object(target: Target, data: bytes) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=300)
    try:
        started = time.perf_counter()
        conn.request("PUT", "/rest/bench/large", body=data, headers=target.headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
        put = len(data) / MIB / (time.perf_counter() - started)
        started = time.perf_counter()
        conn.request("GET", "/rest/bench/large", headers=target.headers)
        response = conn.getresponse()
        received = 0
        while piece := response.read(MIB):
            received += len(piece)
        assert received == len(data), received
        get = len(data) / MIB / (time.perf_counter() - started)
        return put, get
    finally:
        conn.close()


def measure(target: Target, seconds: float, data: bytes) -> dict[str, float]:
    put, get = small_objects(target, seconds)
    large_put, large_get = large_object(target, data)
    return {"PUT 4 KiB/s": put, "GET 4 KiB/s": get, "PUT MB/s": large_put, "GET MB/s": large_get}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="per small-object loop")
    parser.add_argument("--large-mib", type=int, default=256, help="size of the large object")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="run the emulator on a data directory ('tmp': a temporary one)",
    )
    args = parser.parse_args()
    data = bytes(range(256)) * (args.large_mib * MIB // 256)
    with bare_server(data) as target:
        bare = measure(target, args.seconds, data)
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or None
        if data_dir is not None:
            data_dir = Path(scratch) / "data" if str(data_dir) == "tmp" else data_dir
        with emulator(data_dir) as target:
            emulated = measure(target, args.seconds, data)
    where = f"data dir {data_dir}" if data_dir else "memory"
    print(f"{'':14} {'bare':>10} {'emulator':>10} {'ratio':>7}   (emulator in {where})")
    for name, value in bare.items():
        print(f"{name:14} {value:10.0f} {emulated[name]:10.0f} {emulated[name] / value:7.2f}")


if __name__ == "__main__":
    main()
