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

Each line then shows a ceiling: the same operation on ``bench/memfuse.py``, a FUSE filesystem
in Python that keeps its files in memory and does nothing else, bound as hcpfs binds (mfusepy
on libfuse 3, 1 MiB ``max_write`` and ``max_readahead``, the mount's read-ahead raised to 1
MiB, ``use_ns``, READDIRPLUS with attributes) except that it never sets ``keep_cache``, so
every read goes through FUSE. It is mounted afresh where hcpfs is remounted (holding the small
files for ``cp -r`` out, the listed entries for ``ls -l``); it reads the large file back in the
same mount, and the count of bytes it served shows the reads went through FUSE. Each of its
figures is the best of two rounds (the machine is shared and noisy; a ceiling must not be low
by chance). Its time is what the kernel, libfuse, ctypes and the interpreter cost, so no FUSE
filesystem in Python beats it on this machine: where the ceiling's rate is below a target times
the raw rate (sequential reads: raw GET from the in-memory emulator over loopback is several
times faster than any Python FUSE read), hcpfs cannot meet that target, and the run shows it
measured. ``hcpfs/ceiling`` is ceiling time / mount time (1.00: as fast as the ceiling). The
ceiling does not change the exit status.

By default every process shares all the machine's CPUs, so hcpfs's own work competes with the
emulator's, which a raw client barely loads. ``--split-cores`` gives the emulator the first
half of the CPUs and everything else (the baseline, hcpfs, the ceiling and the programs run on
the mounts) the other half, as when HCP runs on machines of its own; both sides of every ratio
run under the same split.

Run as root (FUSE): ``python bench/fs.py [--large-mib 512] [--files 1000] [--listing 10000]
[--latency-ms 2] [--split-cores] [--work DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
MEMFUSE = Path(__file__).with_name("memfuse.py")
CEILING_FSTYPE = "fuse.memfuse"
CEILING_ROUNDS = 2
# What hcpfs sets a mount's read-ahead to (hcpfs.fs.fuse.KERNEL_READAHEAD), for the ceiling too.
READ_AHEAD = MIB


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


def serve(latency: float, pipe: Pipe, cpus: set[int] | None = None) -> None:
    """Run the emulator and its DNS with the latency until the parent says stop (or goes).

    :param cpus: the CPUs to run on (all when None)
    """
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
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


class Served:
    """A FUSE filesystem served in the foreground by a child process, mounted at ``path``.

    :param path: the mount point, created here
    :param fstype: what ``/proc/self/mountinfo`` shows as the mount's type
    :param log: where the child's output goes
    """

    def __init__(self, path: Path, fstype: str, log: Path) -> None:
        self.path = path
        self.path.mkdir()
        self.fstype = fstype
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """Return the command that serves the filesystem at :attr:`path` in the foreground."""
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.command(), stdout=sink, stderr=sink)
        process = self.process
        mounting.wait_until(
            lambda: process.poll() is not None or self.mounted(), time.monotonic() + DEADLINE
        )
        if not self.mounted():
            self.stop()
            raise RuntimeError(f"{self.path} did not come up; see {self.log}")

    def mounted(self) -> bool:
        entry = mounting.mounted_at(self.path)
        return entry is not None and entry.fstype == self.fstype

    def stop(self) -> None:
        """Unmount (lazily if need be) and wait for the child, killing it by PID if it hangs."""
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


class Mount(Served):
    """``hcpfs mount -f`` of the namespace, with default options."""

    def __init__(self, system: System, work: Path) -> None:
        super().__init__(work / "mnt", mounting.FSTYPE, work / "mount.log")
        credentials = work / "credentials"
        credentials.write_text(f"user={system.user}\npassword={system.password}\n")
        credentials.chmod(0o600)
        options = (
            f"credentials={credentials},dns={system.dns},port={system.port},"
            f"staging_dir={work / 'staging'}"
        )
        self.arguments = ["mount", system.host, str(self.path), "-f", "-o", options]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hcpfs.cli", *self.arguments]

    def remount(self) -> None:
        """Unmount and mount again, so nothing is cached in the kernel or in hcpfs."""
        self.stop()
        self.start()


class Ceiling(Served):
    """``bench/memfuse.py``: the in-memory FUSE filesystem in Python, empty unless filled."""

    def __init__(self, work: Path) -> None:
        super().__init__(work / "ceiling", CEILING_FSTYPE, work / "ceiling.log")
        self.fill: list[str] = []

    def command(self) -> list[str]:
        return [sys.executable, str(MEMFUSE), str(self.path), *self.fill]

    def start(self) -> None:
        """Mount, with the kernel's read-ahead raised as hcpfs raises it on its mounts."""
        super().start()
        entry = mounting.mounted_at(self.path)
        assert entry is not None
        setting = Path("/sys/class/bdi") / entry.device / "read_ahead_kb"
        setting.write_text(f"{READ_AHEAD // 1024}\n", encoding="ascii")

    def fresh(self, load: Path | None = None, listing: int = 0) -> None:
        """Mount anew, holding the files of ``load`` in ``/<its name>`` and a listing.

        :param load: a local directory to copy in before mounting
        :param listing: how many entries ``/listed`` holds (none without it)
        """
        self.stop()
        self.fill = [] if load is None else ["--load", str(load)]
        if listing:
            self.fill += ["--listing", str(listing)]
        self.start()

    def bytes_read(self) -> int:
        """Return how many bytes the filesystem has served to reads since it was mounted."""
        counts = json.loads((self.path / ".memfuse-stats").read_text())
        return int(counts["bytes_read"])


@dataclass(frozen=True)
class Figure:
    name: str
    mount_seconds: float
    raw_seconds: float
    amount: float
    unit: str
    target: float
    ceiling_seconds: float

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.mount_seconds

    def line(self) -> str:
        mark = "ok" if self.ratio >= self.target else "MISSED"
        return (
            f"{self.name:<30} mount {self.mount_seconds:7.2f} s "
            f"({self.amount / self.mount_seconds:9.1f} {self.unit})   "
            f"raw {self.raw_seconds:7.2f} s ({self.amount / self.raw_seconds:9.1f} {self.unit})"
            f"   ratio {self.ratio:4.2f} (target >= {self.target:.2f}) {mark:<6}"
            f"   python-fuse ceiling {self.ceiling_seconds:6.2f} s "
            f"({self.amount / self.ceiling_seconds:9.1f} {self.unit}), "
            f"hcpfs/ceiling {self.ceiling_seconds / self.mount_seconds:4.2f}"
        )


def check(got: object, expected: object, what: str) -> None:
    if got != expected:
        raise RuntimeError(f"{what}: expected {expected}, got {got}")


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def best(measure: Callable[[], float]) -> float:
    """Return the shortest time of :data:`CEILING_ROUNDS` runs of ``measure``."""
    return min(measure() for _ in range(CEILING_ROUNDS))


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr.strip()}")


# -- the measurements --------------------------------------------------------------------------


def sequential(raw: Raw, mount: Mount, ceiling: Ceiling, size_mib: int) -> list[Figure]:
    block = os.urandom(MIB)
    size = size_mib * MIB

    def blocks() -> Iterator[bytes]:
        for _ in range(size_mib):
            yield block

    def write(root: Path) -> None:
        with (root / "large.bin").open("wb") as file:
            for piece in blocks():
                file.write(piece)

    def read(root: Path) -> None:
        with (root / "large.bin").open("rb") as file:
            received = 0
            while piece := file.read(MIB):
                received += len(piece)
        check(received, size, f"read through {root}")

    raw_write = timed(lambda: raw.put("/rest/raw/large.bin", blocks(), size))
    mount_write = timed(lambda: write(mount.path))
    mount.remount()
    raw_read = timed(lambda: check(raw.get("/rest/raw/large.bin"), size, "raw GET"))
    mount_read = timed(lambda: read(mount.path))
    ceiling_write, ceiling_read = ceiling_sequential(ceiling, write, read, size)
    mib = float(size_mib)
    name = f"sequential {{}} {size_mib} MiB"
    return [
        Figure(name.format("write"), mount_write, raw_write, mib, "MiB/s", 0.7, ceiling_write),
        Figure(name.format("read"), mount_read, raw_read, mib, "MiB/s", 0.7, ceiling_read),
    ]


def ceiling_sequential(
    ceiling: Ceiling, write: Callable[[Path], None], read: Callable[[Path], None], size: int
) -> tuple[float, float]:
    """Write and read the large file on the ceiling; return the best times of the rounds.

    Each read must have gone through FUSE: the filesystem must count ``size`` more bytes
    served after it.
    """
    ceiling.fresh()
    writes: list[float] = []
    reads: list[float] = []
    for _ in range(CEILING_ROUNDS):
        writes.append(timed(lambda: write(ceiling.path)))
        served = ceiling.bytes_read()
        reads.append(timed(lambda: read(ceiling.path)))
        served = ceiling.bytes_read() - served
        if served < size:
            raise RuntimeError(f"the ceiling served {served} bytes of a {size}-byte read")
        (ceiling.path / "large.bin").unlink()
    ceiling.stop()
    return min(writes), min(reads)


def small_files(raw: Raw, mount: Mount, ceiling: Ceiling, work: Path, count: int) -> list[Figure]:
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

    def copy(source: Path, target: Path) -> float:
        return timed(lambda: run(["cp", "-r", str(source), str(target)]))

    def copy_to_ceiling() -> float:
        ceiling.fresh()
        return copy(local, ceiling.path / "small")

    def copy_from_ceiling() -> float:
        ceiling.fresh(load=local)
        back = work / "back-ceiling"
        shutil.rmtree(back, ignore_errors=True)
        seconds = copy(ceiling.path / "small", back)
        run(["diff", "-r", str(local), str(back)])
        return seconds

    raw_seconds_in = timed(raw_in)
    mount_in = copy(local, mount.path / "small")
    mount.remount()
    raw_seconds_out = timed(raw_out)
    mount_out = copy(mount.path / "small", work / "back")
    run(["diff", "-r", str(local), str(work / "back")])
    ceiling_in = best(copy_to_ceiling)
    ceiling_out = best(copy_from_ceiling)
    ceiling.stop()
    name = f"cp -r {count} x 4 KiB"
    return [
        Figure(f"{name} in", mount_in, raw_seconds_in, count, "files/s", 0.5, ceiling_in),
        Figure(f"{name} out", mount_out, raw_seconds_out, count, "files/s", 0.5, ceiling_out),
    ]


def listing(system: System, raw: Raw, mount: Mount, ceiling: Ceiling, count: int) -> list[Figure]:
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
    mount_seconds = ls_l(mount.path / "listed", count)

    def list_ceiling() -> float:
        ceiling.fresh(listing=count)
        return ls_l(ceiling.path / "listed", count)

    ceiling_seconds = best(list_ceiling)
    ceiling.stop()
    name = f"ls -l of {count} objects"
    return [Figure(name, mount_seconds, raw_seconds, count, "entries/s", 0.5, ceiling_seconds)]


def ls_l(directory: Path, count: int) -> float:
    """Return how long ``ls -l`` of ``directory`` takes; it must show ``count`` entries."""
    shown: list[str] = []

    def ls() -> None:
        result = subprocess.run(
            ["ls", "-l", str(directory)], capture_output=True, text=True, check=True
        )
        shown.extend(result.stdout.splitlines())

    seconds = timed(ls)
    check(len(shown), count + 1, f"ls -l lines of {directory}")
    return seconds


def split_cores() -> tuple[set[int], str]:
    """Keep this process and its children off the first half of the CPUs, for the emulator.

    :return: the emulator's CPUs, and how the split reads in the report
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--split-cores needs at least 2 CPUs")
    server, clients = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
    os.sched_setaffinity(0, clients)
    return server, f"emulator on CPUs {sorted(server)}, the rest on CPUs {sorted(clients)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--listing", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="run the emulator on the first half of the CPUs and everything else on the rest",
    )
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/fs.py mounts FUSE filesystems: run it as root", file=sys.stderr)
        return 2

    server_cpus, cores = split_cores() if args.split_cores else (None, "all CPUs shared")
    here, there = multiprocessing.Pipe()
    child = multiprocessing.Process(
        target=serve, args=(args.latency_ms / 1000, there, server_cpus)
    )
    child.start()
    work = Path(tempfile.mkdtemp(prefix="hcpfs-bench-", dir=args.work))
    mount: Mount | None = None
    ceiling: Ceiling | None = None
    raw: Raw | None = None
    try:
        if not here.poll(DEADLINE):
            raise RuntimeError("the emulator did not start")
        system: System = here.recv()
        print(
            f"emulator: {NODES} nodes, {args.latency_ms:g} ms added to every request; "
            f"hcpfs mounted with default options; raw: urllib3, one connection; "
            f"ceiling: {MEMFUSE.name}, in memory; {cores}",
            flush=True,
        )
        raw = Raw(system)
        mount = Mount(system, work)
        ceiling = Ceiling(work)
        mount.start()
        figures = sequential(raw, mount, ceiling, args.large_mib)
        for figure in figures:
            print(figure.line(), flush=True)
        for figure in small_files(raw, mount, ceiling, work, args.files):
            figures.append(figure)
            print(figure.line(), flush=True)
        for figure in listing(system, raw, mount, ceiling, args.listing):
            figures.append(figure)
            print(figure.line(), flush=True)
    finally:
        if ceiling is not None:
            ceiling.stop()
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
