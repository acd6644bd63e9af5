"""Measure hcpfs through a real mount against raw REST requests to the same emulator, in one run.

The emulator runs in a child process (its threads must not share the interpreter lock with
the clients) with four nodes and a DNS server; every request waits 2 ms before it is handled
(an injected latency, like a network round trip). hcpfs is mounted with ``hcpfs mount -f``
and its default options. The raw baseline is urllib3 with one keep-alive connection to one
node, sending the same requests a careful program would.

| figure | through the mount | raw baseline | target |
| --- | --- | --- | --- |
| sequential write | 512 MiB written in 1 MiB blocks, then close | one streamed PUT | >= 0.7 |
| sequential read | the same file after a remount, 1 MiB reads | one streamed GET | >= 0.7 |
| small files in | ``cp -r`` of 1,000 files of 4 KiB | a PUT loop | >= 0.5 |
| small files out | ``cp -r`` of them back, after a remount | a GET loop | >= 0.5 |
| ``ls -l`` | of a directory of 10,000 objects, after a remount | the listing GET | >= 0.5 |

Each line shows both times, the rates, and the ratio raw time / mount time (1.00: as fast as
raw REST; ``ls -l`` within 2x of raw is 0.5). The exit status is 1 when a target is missed.

Run as root (FUSE): ``python bench/fs.py [--large-mib 512] [--files 1000] [--listing 10000]
[--latency-ms 2] [--work DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import urllib3

from hcpfs.emulator import Emulator
from hcpfs.emulator.dns import DnsServer, zone_resolver
from hcpfs.fs import mounting

MIB = 1024 * 1024
SMALL = 4096
NODES = 4
DEADLINE = 60.0
SETUP_THREADS = 16


@dataclass(frozen=True)
class System:
    """What the child process tells the parent about the emulator it started."""

    host: str
    port: int
    addresses: list[str]
    dns: str
    user: str
    password: str
    auth_header: str


def serve(latency: float, pipe: Pipe) -> None:
    """Run the emulator and its DNS with the latency until the parent says stop (or goes)."""
    with Emulator(nodes=NODES, port=0) as hcp:
        config = hcp.system.config
        tenants = {t.name: [ns.name for ns in t.namespaces] for t in config.tenants}
        resolve = zone_resolver(config.domain, lambda: tenants, lambda: hcp.addresses)
        with DnsServer(resolve, "127.0.0.1", 0) as dns:
            hcp.system.faults.latency(latency)
            pipe.send(
                System(
                    hcp.host,
                    hcp.port,
                    hcp.addresses,
                    f"{dns.address}:{dns.port}",
                    hcp.user,
                    hcp.password,
                    hcp.auth_header,
                )
            )
            with contextlib.suppress(EOFError):
                pipe.recv()
            hcp.system.faults.clear()


class Raw:
    """The baseline: one urllib3 keep-alive connection to the first node."""

    def __init__(self, system: System, connections: int = 1) -> None:
        self.headers = {"Host": system.host, "Authorization": system.auth_header}
        self.pool = urllib3.HTTPConnectionPool(
            system.addresses[0], system.port, maxsize=connections, block=True, retries=False
        )

    def put(self, url: str, body: bytes | Iterator[bytes], length: int) -> None:
        headers = {**self.headers, "Content-Length": str(length)}
        response = self.pool.urlopen("PUT", url, body=body, headers=headers, timeout=600)
        check(response.status, 201, url)

    def get(self, url: str) -> int:
        response = self.pool.urlopen(
            "GET", url, headers=self.headers, preload_content=False, timeout=600
        )
        received = 0
        while piece := response.read(MIB):
            received += len(piece)
        response.release_conn()
        check(response.status, 200, url)
        return received

    def close(self) -> None:
        self.pool.close()


class Mount:
    """``hcpfs mount -f`` of the namespace, with default options."""

    def __init__(self, system: System, work: Path) -> None:
        self.path = work / "mnt"
        self.path.mkdir()
        credentials = work / "credentials"
        credentials.write_text(f"user={system.user}\npassword={system.password}\n")
        credentials.chmod(0o600)
        options = (
            f"credentials={credentials},dns={system.dns},port={system.port},"
            f"staging_dir={work / 'staging'}"
        )
        self.arguments = ["mount", system.host, str(self.path), "-f", "-o", options]
        self.log = work / "mount.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hcpfs.cli", *self.arguments], stdout=sink, stderr=sink
            )
        process = self.process
        mounting.wait_until(
            lambda: process.poll() is not None or self.mounted(), time.monotonic() + DEADLINE
        )
        if not self.mounted():
            self.stop()
            raise RuntimeError(f"the mount did not come up; see {self.log}")

    def mounted(self) -> bool:
        entry = mounting.mounted_at(self.path)
        return entry is not None and entry.fstype == mounting.FSTYPE

    def stop(self) -> None:
        if self.mounted():
            subprocess.run(["fusermount3", "-u", str(self.path)], check=False)
        if self.mounted():
            subprocess.run(["fusermount3", "-uz", str(self.path)], check=False)
        process, self.process = self.process, None
        if process is not None:
            try:
                process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(DEADLINE)

    def remount(self) -> None:
        """Unmount and mount again, so nothing is cached in the kernel or in hcpfs."""
        self.stop()
        self.start()


@dataclass(frozen=True)
class Figure:
    name: str
    mount_seconds: float
    raw_seconds: float
    amount: float
    unit: str
    target: float

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.mount_seconds

    def line(self) -> str:
        mark = "ok" if self.ratio >= self.target else "MISSED"
        return (
            f"{self.name:<30} mount {self.mount_seconds:7.2f} s "
            f"({self.amount / self.mount_seconds:9.1f} {self.unit})   "
            f"raw {self.raw_seconds:7.2f} s ({self.amount / self.raw_seconds:9.1f} {self.unit})"
            f"   ratio {self.ratio:4.2f} (target >= {self.target:.2f}) {mark}"
        )


def check(got: object, expected: object, what: str) -> None:
    if got != expected:
        raise RuntimeError(f"{what}: expected {expected}, got {got}")


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr.strip()}")


# -- the measurements --------------------------------------------------------------------------


def sequential(raw: Raw, mount: Mount, size_mib: int) -> list[Figure]:
    block = os.urandom(MIB)
    size = size_mib * MIB

    def blocks() -> Iterator[bytes]:
        for _ in range(size_mib):
            yield block

    def write() -> None:
        with (mount.path / "large.bin").open("wb") as file:
            for piece in blocks():
                file.write(piece)

    def read() -> None:
        with (mount.path / "large.bin").open("rb") as file:
            received = 0
            while piece := file.read(MIB):
                received += len(piece)
        check(received, size, "read through the mount")

    raw_write = timed(lambda: raw.put("/rest/raw/large.bin", blocks(), size))
    mount_write = timed(write)
    mount.remount()
    raw_read = timed(lambda: check(raw.get("/rest/raw/large.bin"), size, "raw GET"))
    mount_read = timed(read)
    mib = float(size_mib)
    return [
        Figure(f"sequential write {size_mib} MiB", mount_write, raw_write, mib, "MiB/s", 0.7),
        Figure(f"sequential read {size_mib} MiB", mount_read, raw_read, mib, "MiB/s", 0.7),
    ]


def small_files(raw: Raw, mount: Mount, work: Path, count: int) -> list[Figure]:
    local = work / "small"
    local.mkdir()
    for number in range(count):
        (local / f"f{number:05}").write_bytes(os.urandom(SMALL))
    names = sorted(p.name for p in local.iterdir())
    bodies = {name: (local / name).read_bytes() for name in names}

    def raw_in() -> None:
        for name in names:
            raw.put(f"/rest/raw-small/{name}", bodies[name], SMALL)

    def raw_out() -> None:
        for name in names:
            check(raw.get(f"/rest/raw-small/{name}"), SMALL, name)

    back = work / "back"
    raw_seconds_in = timed(raw_in)
    mount_in = timed(lambda: run(["cp", "-r", str(local), str(mount.path / "small")]))
    mount.remount()
    raw_seconds_out = timed(raw_out)
    mount_out = timed(lambda: run(["cp", "-r", str(mount.path / "small"), str(back)]))
    run(["diff", "-r", str(local), str(back)])
    return [
        Figure(f"cp -r {count} x 4 KiB in", mount_in, raw_seconds_in, count, "files/s", 0.5),
        Figure(f"cp -r {count} x 4 KiB out", mount_out, raw_seconds_out, count, "files/s", 0.5),
    ]


def listing(system: System, raw: Raw, mount: Mount, count: int) -> list[Figure]:
    filler = Raw(system, SETUP_THREADS)
    names = [f"o{number:06}" for number in range(count)]

    def fill(share: list[str]) -> None:
        for name in share:
            filler.put(f"/rest/listed/{name}", b"l" * 100, 100)

    threads = [
        threading.Thread(target=fill, args=(names[k::SETUP_THREADS],))
        for k in range(SETUP_THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3600)
    filler.close()
    mount.remount()
    raw_seconds = timed(lambda: raw.get("/rest/listed"))
    shown: list[str] = []

    def ls() -> None:
        result = subprocess.run(
            ["ls", "-l", str(mount.path / "listed")], capture_output=True, text=True, check=True
        )
        shown.extend(result.stdout.splitlines())

    mount_seconds = timed(ls)
    check(len(shown), count + 1, "ls -l lines")
    return [
        Figure(f"ls -l of {count} objects", mount_seconds, raw_seconds, count, "entries/s", 0.5)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--listing", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/fs.py mounts FUSE filesystems: run it as root", file=sys.stderr)
        return 2

    here, there = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve, args=(args.latency_ms / 1000, there))
    child.start()
    work = Path(tempfile.mkdtemp(prefix="hcpfs-bench-", dir=args.work))
    mount: Mount | None = None
    raw: Raw | None = None
    try:
        if not here.poll(DEADLINE):
            raise RuntimeError("the emulator did not start")
        system: System = here.recv()
        print(
            f"emulator: {NODES} nodes, {args.latency_ms:g} ms added to every request; "
            f"hcpfs mounted with default options; raw: urllib3, one connection",
            flush=True,
        )
        raw = Raw(system)
        mount = Mount(system, work)
        mount.start()
        figures = sequential(raw, mount, args.large_mib)
        for figure in figures:
            print(figure.line(), flush=True)
        for figure in small_files(raw, mount, work, args.files):
            figures.append(figure)
            print(figure.line(), flush=True)
        for figure in listing(system, raw, mount, args.listing):
            figures.append(figure)
            print(figure.line(), flush=True)
    finally:
        if mount is not None:
            mount.stop()
        if raw is not None:
            raw.close()
        with contextlib.suppress(BrokenPipeError, OSError):
            here.send("stop")
        child.join(DEADLINE)
        if child.is_alive():
            child.kill()
            child.join(DEADLINE)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(figure.ratio >= figure.target for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
