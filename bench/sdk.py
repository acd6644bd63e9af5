"""Compare hcpfs.sdk with plain urllib3 against the emulator, in one run.

The emulator runs in a child process (so that its threads do not share the interpreter lock
with the clients) with four nodes, and every request waits 2 ms before it is handled (an
injected latency, like a network round trip). Then, for 1 and for 8 threads:

* 2,000 PUTs of new 4 KiB objects, then 2,000 GETs of them, through ``hcpfs.sdk`` (one
  ``Connection`` per thread on one shared ``Target``, spread over the four nodes), and the
  same through a bare urllib3 pool to the first node;
* a 256 MiB object stored and read back by each client (the best of three, each).

Each line shows both rates and their ratio (SDK / urllib3: 1.00 means just as fast). The
last lines show how much faster 8 threads are than 1 through the SDK; with 2 ms of latency
that must be at least 3 for small objects, else the exit status is 1.

Run: ``python bench/sdk.py [--count 2000] [--threads 8] [--large-mib 256] [--latency-ms 2]``
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe

import urllib3

import hcpfs.sdk as hcpsdk
from hcpfs.emulator import Emulator

SMALL = 4096
MIB = 1024 * 1024
MIN_SPEEDUP = 3.0
JOIN_SECONDS = 600.0


@dataclass(frozen=True)
class System:
    """What the child process tells the parent about the emulator it started."""

    host: str
    port: int
    addresses: list[str]
    user: str
    password: str
    auth_header: str


def serve(nodes: int, latency: float, pipe: Pipe) -> None:
    """Run the emulator with the latency until the parent says stop (or goes away)."""
    with Emulator(nodes=nodes) as hcp:
        hcp.system.faults.latency(latency)
        pipe.send(
            System(hcp.host, hcp.port, hcp.addresses, hcp.user, hcp.password, hcp.auth_header)
        )
        # The parent's word, or its end (EOFError), both mean stop.
        with contextlib.suppress(EOFError):
            pipe.recv()
        hcp.system.faults.clear()


def in_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(k)`` for k in 0..threads-1, each in its own thread; return the seconds."""
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:
            errors.append(exc)
            raise

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_SECONDS)
    seconds = time.perf_counter() - started
    if errors or any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"a benchmark thread failed: {errors[:1]}")
    return seconds


class SdkClient:
    """Requests through hcpfs.sdk: one target, one connection per thread."""

    name = "hcpfs.sdk"

    def __init__(self, system: System) -> None:
        auth = hcpsdk.NativeAuthorization(system.user, system.password)
        self.target = hcpsdk.Target(
            system.host, auth, port=system.port, tls=False, lookup=lambda name: system.addresses
        )

    def put_many(self, urls: list[str], body: bytes) -> None:
        with hcpsdk.Connection(self.target) as con:
            for url in urls:
                con.PUT(url, body=body)
                con.read()
                check(con.response_status, 201, url)

    def get_many(self, urls: list[str], size: int) -> None:
        with hcpsdk.Connection(self.target) as con:
            for url in urls:
                con.GET(url)
                received = len(con.read())
                check(con.response_status, 200, url)
                check(received, size, url)

    def put_large(self, url: str, body: bytes) -> None:
        with hcpsdk.Connection(self.target, timeout=300) as con:
            con.PUT(url, body=body)
            con.read()
            check(con.response_status, 201, url)

    def get_large(self, url: str, size: int) -> None:
        with hcpsdk.Connection(self.target, timeout=300) as con:
            con.GET(url)
            received = 0
            while piece := con.read(MIB):
                received += len(piece)
            check(con.response_status, 200, url)
            check(received, size, url)

    def close(self) -> None:
        self.target.close()


class RawClient:
    """Requests through one urllib3 pool to the first node, as a baseline."""

    name = "urllib3, 1 node"

    def __init__(self, system: System, threads: int) -> None:
        self.headers = {"Host": system.host, "Authorization": system.auth_header}
        self.pool = urllib3.HTTPConnectionPool(
            system.addresses[0], system.port, maxsize=threads, block=True, retries=False
        )

    def put_many(self, urls: list[str], body: bytes) -> None:
        for url in urls:
            response = self.pool.urlopen("PUT", url, body=body, headers=self.headers)
            check(response.status, 201, url)

    def get_many(self, urls: list[str], size: int) -> None:
        for url in urls:
            response = self.pool.urlopen("GET", url, headers=self.headers)
            check(response.status, 200, url)
            check(len(response.data), size, url)

    def put_large(self, url: str, body: bytes) -> None:
        response = self.pool.urlopen("PUT", url, body=body, headers=self.headers, timeout=300)
        check(response.status, 201, url)

    def get_large(self, url: str, size: int) -> None:
        response = self.pool.urlopen(
            "GET", url, headers=self.headers, preload_content=False, timeout=300
        )
        received = 0
        while piece := response.read(MIB):
            received += len(piece)
        response.release_conn()
        check(response.status, 200, url)
        check(received, size, url)

    def close(self) -> None:
        self.pool.close()


Client = SdkClient | RawClient


def check(got: object, expected: object, url: str) -> None:
    if got != expected:
        raise RuntimeError(f"{url}: expected {expected}, got {got}")


def small_objects(client: Client, prefix: str, count: int, threads: int) -> tuple[float, float]:
    """Store ``count`` new 4 KiB objects, then read them; return PUTs and GETs per second."""
    body = b"s" * SMALL
    urls = [f"{prefix}/d{n % 64}/o{n}" for n in range(count)]
    shares = [urls[k::threads] for k in range(threads)]
    put = in_threads(threads, lambda k: client.put_many(shares[k], body))
    get = in_threads(threads, lambda k: client.get_many(shares[k], SMALL))
    return count / put, count / get


def large_object(client: Client, prefix: str, data: bytes, repeat: int) -> tuple[float, float]:
    """Store a large object ``repeat`` times (new names) and read each back; return the best
    MiB/s of each, since a single transfer of a fraction of a second is easily disturbed."""
    mib = len(data) / MIB
    put = get = 0.0
    for attempt in range(repeat):
        url = f"{prefix}/{attempt}"
        started = time.perf_counter()
        client.put_large(url, data)
        put = max(put, mib / (time.perf_counter() - started))
        started = time.perf_counter()
        client.get_large(url, len(data))
        get = max(get, mib / (time.perf_counter() - started))
    return put, get


def row(label: str, sdk: float, raw: float, unit: str) -> str:
    return f"{label:<22}{sdk:>10.1f} {unit:<6}{raw:>10.1f} {unit:<6}{sdk / raw:>12.2f}"


def measure(system: System, args: argparse.Namespace) -> bool:
    """Run every comparison, print the table; tell whether the SDK scales enough."""
    print(f"{'':<22}{'hcpfs.sdk':>16} {'urllib3, 1 node':>16} {'sdk/urllib3':>12}")
    rates: dict[int, tuple[float, float]] = {}
    for threads in sorted({1, args.threads}):
        sdk, raw = SdkClient(system), RawClient(system, threads)
        try:
            sdk_put, sdk_get = small_objects(sdk, f"/rest/sdk-{threads}", args.count, threads)
            raw_put, raw_get = small_objects(raw, f"/rest/raw-{threads}", args.count, threads)
        finally:
            sdk.close()
            raw.close()
        rates[threads] = (sdk_put, sdk_get)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        print(row(f"4 KiB PUT, {label}", sdk_put, raw_put, "op/s"), flush=True)
        print(row(f"4 KiB GET, {label}", sdk_get, raw_get, "op/s"), flush=True)

    data = bytes(range(256)) * (args.large_mib * MIB // 256)
    sdk, raw = SdkClient(system), RawClient(system, 1)
    try:
        sdk_put, sdk_get = large_object(sdk, "/rest/large/sdk", data, args.repeat)
        raw_put, raw_get = large_object(raw, "/rest/large/raw", data, args.repeat)
    finally:
        sdk.close()
        raw.close()
    print(row(f"{args.large_mib} MiB PUT", sdk_put, raw_put, "MiB/s"))
    print(row(f"{args.large_mib} MiB GET", sdk_get, raw_get, "MiB/s"))
    return scaling(rates, args.threads)


def scaling(rates: dict[int, tuple[float, float]], threads: int) -> bool:
    put = rates[threads][0] / rates[1][0]
    get = rates[threads][1] / rates[1][1]
    verdict = "ok" if min(put, get) >= MIN_SPEEDUP else f"TOO LOW, needs at least {MIN_SPEEDUP}"
    print(f"hcpfs.sdk, {threads} threads / 1 thread: PUT {put:.2f}x, GET {get:.2f}x ({verdict})")
    return min(put, get) >= MIN_SPEEDUP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="small objects (2000)")
    parser.add_argument("--threads", type=int, default=8, help="threads to compare with 1 (8)")
    parser.add_argument("--large-mib", type=int, default=256, help="large object size (256)")
    parser.add_argument("--repeat", type=int, default=3, help="large transfers, best of (3)")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="added per request (2)")
    parser.add_argument("--nodes", type=int, default=4, help="emulator nodes (4)")
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    emulator = context.Process(
        target=serve, args=(args.nodes, args.latency_ms / 1000.0, child), daemon=True
    )
    emulator.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the emulator did not start within 60 s")
        system: System = parent.recv()
        print(
            f"emulator: {args.nodes} nodes, {args.latency_ms:g} ms added to each request, "
            "in its own process"
        )
        scales = measure(system, args)
    finally:
        parent.send("stop")
        emulator.join(30)
        if emulator.is_alive():
            emulator.terminate()
    return 0 if scales else 1


if __name__ == "__main__":
    sys.exit(main())
