"""Real FUSE mounts of an emulator started in this process.

One emulator with three nodes and a DNS server that names them serves each test module; it is
reset before each test. ``hcpfs mount -f`` runs as a child process; the helper waits for the
mount with a deadline, prints the daemon's log when the test fails (pytest shows the output of
failed tests), and always unmounts and stops the process (``kill`` and ``wait``), whatever the
test did. Nodes a test stopped are started again and faults are cleared afterwards.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.dns import DnsServer, zone_resolver
from hcpfs.fs import mounting

DEADLINE = 30.0
FUSERMOUNT = shutil.which("fusermount3") or "fusermount3"

pytestmark = pytest.mark.mount


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """A three-node emulator for the test module."""
    with Emulator(nodes=3, port=0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def dns(hcp: Emulator) -> Iterator[str]:
    """A DNS server for the emulator's names, as ``address:port``."""
    config = hcp.system.config
    resolve = zone_resolver(
        config.domain,
        lambda: {t.name: [ns.name for ns in t.namespaces] for t in hcp.system.config.tenants},
        lambda: hcp.addresses,
    )
    with DnsServer(resolve, "127.0.0.1", 0) as server:
        yield f"{server.address}:{server.port}"


@dataclass
class Mount:
    """One ``hcpfs mount -f`` child process and its mount point."""

    path: Path
    arguments: list[str]
    log: Path
    staging: Path
    process: subprocess.Popen[bytes] | None = None
    history: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Start the process and wait until the kernel shows the mount."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hcpfs.cli", *self.arguments],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        process = self.process
        mounting.wait_until(
            lambda: process.poll() is not None or self.mounted(), time.monotonic() + DEADLINE
        )
        if not self.mounted():
            self.stop()
            pytest.fail(f"{self.path} was not mounted within {DEADLINE} s:\n{self.log_text()}")

    def mounted(self) -> bool:
        """Tell whether the kernel shows an hcpfs mount on the mount point."""
        entry = mounting.mounted_at(self.path)
        return entry is not None and entry.fstype == mounting.FSTYPE

    def stop(self) -> None:
        """Unmount (lazily if still busy at the deadline) and wait for the process."""
        deadline = time.monotonic() + DEADLINE
        while self.mounted() and time.monotonic() < deadline:
            result = subprocess.run(
                [FUSERMOUNT, "-u", str(self.path)], capture_output=True, text=True, check=False
            )
            self.history.append(result.stderr.strip())
            if result.returncode != 0:
                time.sleep(0.1)
        if self.mounted():
            subprocess.run([FUSERMOUNT, "-uz", str(self.path)], check=False)
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(DEADLINE)

    def remount(self) -> None:
        """Unmount and mount again: the kernel's caches and the filesystem's start empty."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        """Return the daemon's log."""
        try:
            return self.log.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"


MountFactory = Callable[..., Mount]


@pytest.fixture
def mount_hcpfs(hcp: Emulator, dns: str, tmp_path: Path) -> Iterator[MountFactory]:
    """Mount the emulator's first namespace; call with extra ``-o`` options if needed."""
    hcp.reset()
    hcp.system.faults.clear()
    credentials = tmp_path / "credentials"
    credentials.write_text(f"user={hcp.user}\npassword={hcp.password}\n")
    credentials.chmod(0o600)
    made: list[Mount] = []

    def make(options: str = "", name: str = "mnt") -> Mount:
        path = tmp_path / name
        path.mkdir()
        staging = tmp_path / f"staging-{name}"
        base = f"credentials={credentials},dns={dns},port={hcp.port},staging_dir={staging}"
        every = f"{base},{options}" if options else base
        mount = Mount(
            path=path,
            arguments=["mount", hcp.host, str(path), "-f", "-o", every],
            log=tmp_path / f"{name}.log",
            staging=staging,
        )
        made.append(mount)
        mount.start()
        return mount

    try:
        yield make
    finally:
        for mount in reversed(made):
            mount.stop()
        hcp.system.faults.clear()
        for node in hcp.nodes:
            if not node.running:
                node.start()
        for mount in made:
            print(f"---- log of the mount on {mount.path} ----\n{mount.log_text()}")
            if mount.history and any(mount.history):
                print(f"---- unmount attempts ----\n{mount.history}")


@pytest.fixture
def mnt(mount_hcpfs: MountFactory) -> Path:
    """The mount point of a mount with the default options."""
    return mount_hcpfs().path


@pytest.fixture
def hcp_status(hcp: Emulator) -> Callable[[str], int]:
    """Ask HCP directly, not through hcpfs: the status of a HEAD of ``/rest<path>``."""

    def status(path: str) -> int:
        conn = http.client.HTTPConnection(hcp.addresses[0], hcp.port, timeout=DEADLINE)
        headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
        try:
            conn.request("HEAD", "/rest" + path, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    return status
