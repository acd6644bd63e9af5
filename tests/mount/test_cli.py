"""``hcpfs mount`` and ``hcpfs umount``: one-line errors with distinct exit statuses before
anything is mounted, the background mount, unmounting that waits for the process, TLS.

The errors are documented in docs/troubleshooting.md, one section each.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hcpfs.cli import main
from hcpfs.emulator import Emulator
from hcpfs.emulator.dns import DnsServer, zone_resolver
from hcpfs.emulator.tls import CertificateAuthority, system_names
from hcpfs.fs import mounting
from hcpfs.fs.mounting import Problem

if TYPE_CHECKING:
    from conftest import MountFactory

DEADLINE = 30.0


@pytest.fixture
def setup(hcp: Emulator, dns: str, tmp_path: Path) -> dict[str, str]:
    """Arguments for a mount of the emulator on an empty directory (not mounted yet)."""
    hcp.reset()
    credentials = tmp_path / "credentials"
    credentials.write_text(f"# the emulator's account\n{hcp.user}:{hcp.password}\n")
    credentials.chmod(0o600)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    return {
        "host": hcp.host,
        "mountpoint": str(mountpoint),
        "options": f"credentials={credentials},dns={dns},port={hcp.port},"
        f"staging_dir={tmp_path / 'staging'},log={tmp_path / 'mount.log'}",
    }


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    """Mount points to unmount, and whose serving process to stop, after the test."""
    mountpoints: list[Path] = []
    yield mountpoints
    for mountpoint in mountpoints:
        pid = mounting.serving_pid(mountpoint)
        if mounting.mounted_at(mountpoint) is not None:
            subprocess.run(["fusermount3", "-uz", str(mountpoint)], check=False)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            ended = functools.partial(lambda dead: not mounting.alive(dead), pid)
            mounting.wait_until(ended, time.monotonic() + DEADLINE)


def hcpfs(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hcpfs.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        check=False,
    )


def refusal(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    """Run ``hcpfs`` in this process; return the exit status and the one error line."""
    status = main(list(arguments))
    err = capsys.readouterr().err.splitlines()
    assert err and err[0].startswith("hcpfs: error: "), err
    assert all(line.startswith("hcpfs: ") for line in err), err
    assert "Traceback" not in "\n".join(err)
    return status, err[0]


def mount_arguments(setup: dict[str, str], options: str = "") -> list[str]:
    extra = f",{options}" if options else ""
    return ["mount", setup["host"], setup["mountpoint"], "-o", setup["options"] + extra]


# -- refusals before mounting ------------------------------------------------------------------


def test_wrong_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: dict[str, str]
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("user=dev\npassword=not-the-password\n")
    wrong.chmod(0o600)
    status, line = refusal(capsys, *mount_arguments(setup, f"credentials={wrong}"))
    assert status == Problem.AUTH == 4
    assert "refused user 'dev'" in line and "not-the-password" not in line


def test_unknown_namespace(capsys: pytest.CaptureFixture[str], setup: dict[str, str]) -> None:
    setup["host"] = "nothere.dev.hcp.example.com"
    status, line = refusal(capsys, *mount_arguments(setup))
    assert status == Problem.NAMESPACE == 5
    assert "no namespace 'nothere'" in line


def test_name_without_address(capsys: pytest.CaptureFixture[str], setup: dict[str, str]) -> None:
    setup["host"] = "ns1.dev.elsewhere.example.com"
    status, line = refusal(capsys, *mount_arguments(setup))
    assert status == Problem.DNS == 6
    assert "cannot resolve ns1.dev.elsewhere.example.com" in line


def test_dns_server_that_does_not_answer(
    capsys: pytest.CaptureFixture[str], setup: dict[str, str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        status, line = refusal(capsys, *mount_arguments(setup, f"dns=127.0.0.1:{port}"))
    assert status == Problem.DNS == 6
    assert f"127.0.0.1:{port} did not answer" in line


def test_no_node_answers(capsys: pytest.CaptureFixture[str], setup: dict[str, str]) -> None:
    status, line = refusal(capsys, *mount_arguments(setup, "port=9"))
    assert status == Problem.UNREACHABLE == 7
    assert "answered on port 9" in line


def test_mount_point_missing_or_not_empty(
    capsys: pytest.CaptureFixture[str], setup: dict[str, str]
) -> None:
    mountpoint = Path(setup["mountpoint"])
    (mountpoint / "something").write_text("x")
    status, line = refusal(capsys, *mount_arguments(setup))
    assert (status, line.endswith("is not empty")) == (Problem.MOUNTPOINT, True)
    setup["mountpoint"] = str(mountpoint / "missing")
    status, line = refusal(capsys, *mount_arguments(setup))
    assert (status, line.endswith("does not exist")) == (Problem.MOUNTPOINT, True)


def test_mount_point_already_mounted(
    capsys: pytest.CaptureFixture[str], mount_hcpfs: MountFactory, setup: dict[str, str]
) -> None:
    setup["mountpoint"] = str(mount_hcpfs(name="busy").path)
    status, line = refusal(capsys, *mount_arguments(setup))
    assert status == Problem.MOUNTPOINT == 9
    assert "is already a mount point (fuse.hcpfs" in line


def test_credentials_refused_before_asking_hcp(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setup: dict[str, str],
) -> None:
    shared = tmp_path / "shared"
    shared.write_text("user=dev\npassword=devpass\n")
    shared.chmod(0o640)
    status, line = refusal(capsys, *mount_arguments(setup, f"credentials={shared}"))
    assert (status, "accessible to group or others" in line) == (Problem.CREDENTIALS, True)
    odd = tmp_path / "odd"
    odd.write_text("just one word\n")
    odd.chmod(0o600)
    status, line = refusal(capsys, *mount_arguments(setup, f"credentials={odd}"))
    assert (status, "line 1" in line) == (Problem.CREDENTIALS, True)
    missing = tmp_path / "missing"
    status, line = refusal(capsys, *mount_arguments(setup, f"credentials={missing}"))
    assert (status, "cannot read" in line) == (Problem.CREDENTIALS, True)
    monkeypatch.delenv("HCPFS_USER", raising=False)
    monkeypatch.delenv("HCPFS_PASSWORD", raising=False)
    status, line = refusal(capsys, "mount", setup["host"], setup["mountpoint"])
    assert (status, "no credentials" in line) == (Problem.CREDENTIALS, True)


def test_bad_option(capsys: pytest.CaptureFixture[str], setup: dict[str, str]) -> None:
    status, line = refusal(capsys, *mount_arguments(setup, "umask=999"))
    assert (status, "umask" in line) == (Problem.USAGE, True)
    status, line = refusal(capsys, *mount_arguments(setup, "colour=blue"))
    assert (status, "unknown option 'colour'" in line) == (Problem.USAGE, True)


# -- mounting in the background and unmounting -------------------------------------------------


def test_background_mount_then_umount_waits_for_the_process(
    setup: dict[str, str], cleanup: list[Path]
) -> None:
    mountpoint = Path(setup["mountpoint"])
    cleanup.append(mountpoint)
    mounted = hcpfs(*mount_arguments(setup, "ro"))
    assert mounted.returncode == 0, mounted.stderr
    entry = mounting.mounted_at(mountpoint)
    assert entry is not None and (entry.fstype, entry.source) == ("fuse.hcpfs", setup["host"])
    pid = mounting.serving_pid(mountpoint)
    assert pid is not None and mounting.alive(pid)
    assert os.listdir(mountpoint) == []
    with pytest.raises(OSError, match="Read-only file system"):
        (mountpoint / "f").write_text("x")
    unmounted = hcpfs("umount", str(mountpoint))
    assert unmounted.returncode == 0, unmounted.stderr
    assert mounting.mounted_at(mountpoint) is None
    assert not mounting.alive(pid)
    assert not mounting.pid_file(mountpoint).exists()


def test_umount_refusals(
    capsys: pytest.CaptureFixture[str], mount_hcpfs: MountFactory, tmp_path: Path
) -> None:
    status, line = refusal(capsys, "umount", str(tmp_path))
    assert (status, line.endswith("nothing is mounted on " + str(tmp_path))) == (9, True)
    mount = mount_hcpfs()
    with (mount.path / "open.txt").open("w") as still_open:
        still_open.write("x")
        still_open.flush()
        status, line = refusal(capsys, "umount", str(mount.path))
        assert (status, "is busy" in line) == (Problem.BUSY, True)
    assert main(["umount", str(mount.path)]) == 0
    assert mount.process is not None
    assert mount.process.wait(DEADLINE) == 0


def test_sigterm_unmounts(mount_hcpfs: MountFactory) -> None:
    mount = mount_hcpfs()
    (mount.path / "kept").write_text("stored before the signal")
    assert mount.process is not None
    mount.process.send_signal(signal.SIGTERM)
    assert mount.process.wait(DEADLINE) == 0
    assert not mount.mounted()


def test_debug_option_logs_every_request(mount_hcpfs: MountFactory) -> None:
    """``-o debug``, for fstab mounts, logs the requests as ``--debug`` does; without it the
    log has none."""
    quiet = mount_hcpfs(name="quiet")
    (quiet.path / "q.txt").write_text("quiet")
    loud = mount_hcpfs("debug", name="loud")
    (loud.path / "l.txt").write_text("loud")
    assert "PUT /rest/l.txt" in loud.log_text()
    assert "PUT /rest/q.txt" not in quiet.log_text()


def test_the_kernel_reads_ahead_a_mebibyte(mount_hcpfs: MountFactory) -> None:
    """As root the mount's read-ahead is raised from the kernel's 128 KiB to 1 MiB."""
    mount = mount_hcpfs()
    entry = mounting.mounted_at(mount.path)
    assert entry is not None and entry.device
    setting = Path("/sys/class/bdi") / entry.device / "read_ahead_kb"
    assert mounting.wait_until(
        lambda: setting.read_text().strip() == "1024", time.monotonic() + DEADLINE
    ), f"read_ahead_kb is {setting.read_text().strip()}"


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_hcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, str, Path]]:
    """An emulator serving HTTPS with a certificate of its own CA, its DNS, the CA file."""
    authority = CertificateAuthority.open(tmp_path_factory.mktemp("ca"))
    names = system_names("hcp.example.com", {"dev": ["ns1", "versioned"]})
    context = authority.server_context(names, ["127.0.0.2", "127.0.0.3"])
    with Emulator(nodes=2, port=0, ssl_context=context) as emulator:
        tenants = {t.name: [n.name for n in t.namespaces] for t in emulator.system.config.tenants}
        resolve = zone_resolver("hcp.example.com", lambda: tenants, lambda: emulator.addresses)
        with DnsServer(resolve, "127.0.0.1", 0) as server:
            yield emulator, f"127.0.0.1:{server.port}", authority.ca_file


def test_tls_needs_the_ca(
    capsys: pytest.CaptureFixture[str],
    tls_hcp: tuple[Emulator, str, Path],
    setup: dict[str, str],
    cleanup: list[Path],
) -> None:
    emulator, dns, ca_file = tls_hcp
    tls = f"tls,port={emulator.port},dns={dns}"
    status, line = refusal(capsys, *mount_arguments(setup, tls))
    assert (status, "did not verify" in line) == (Problem.TLS, True)
    cleanup.append(Path(setup["mountpoint"]))
    mounted = hcpfs(*mount_arguments(setup, f"{tls},cafile={ca_file}"))
    assert mounted.returncode == 0, mounted.stderr
    (Path(setup["mountpoint"]) / "over-tls.txt").write_text("encrypted on the way")
    assert hcpfs("umount", setup["mountpoint"]).returncode == 0
    assert emulator.system.store is not None
