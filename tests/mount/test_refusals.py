"""What HCP refuses reaches programs on a real mount with the errno docs/SEMANTICS.md promises;
failed uploads lose nothing and show nothing half-written; a node going down stays hidden.

Sections: §7 (errno table), §8.5 (open for writing), §8.8 (upload at close), §8.10 (unlink),
§8.11 (rmdir), §6 (durability), §2 tenet 1 (nothing lost).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import hcpfs
from hcpfs.emulator import Emulator
from hcpfs.fs import mounting
from hcpfs.fs.staging import StagingArea

if TYPE_CHECKING:
    from conftest import MountFactory

MIB = 1024 * 1024
TIMEOUT = 120


def errno_of(call: Callable[[], object]) -> int:
    """Run ``call`` and return the errno of the ``OSError`` it raises (0 when none)."""
    try:
        call()
    except OSError as error:
        return error.errno or -1
    return 0


def write_and_close(path: Path, data: bytes) -> None:
    """Write with os-level calls, so the error of close() (the upload) is not lost."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)


def test_unlink_under_retention_is_eperm(mnt: Path) -> None:
    """§8.10, §7: deleting an object under retention gives EPERM; the file stays."""
    path = mnt / "kept.txt"
    path.write_text("kept")
    os.setxattr(path, "user.hcp.retention", b"N+1d")
    assert errno_of(path.unlink) == errno.EPERM
    assert path.read_text() == "kept"
    assert path.stat().st_mode & 0o222 == 0


def test_unlink_on_hold_is_eperm(mnt: Path) -> None:
    """§8.10, §7: deleting an object on hold gives EPERM; after release it can go."""
    path = mnt / "held.txt"
    path.write_text("held")
    os.setxattr(path, "user.hcp.hold", b"true")
    assert errno_of(path.unlink) == errno.EPERM
    assert os.getxattr(path, "user.hcp.hold") == b"true"
    os.setxattr(path, "user.hcp.hold", b"false")
    path.unlink()
    assert not path.exists()


def test_rmdir_of_a_non_empty_directory_is_enotempty(mnt: Path) -> None:
    """§8.11, §7: HCP's 403 for a non-empty directory becomes ENOTEMPTY."""
    (mnt / "d").mkdir()
    (mnt / "d" / "f").write_text("x")
    assert errno_of((mnt / "d").rmdir) == errno.ENOTEMPTY
    (mnt / "d" / "f").unlink()
    (mnt / "d").rmdir()


@pytest.mark.parametrize(
    ("quota", "size"),
    [
        pytest.param(MIB, 2 * MIB, id="uploaded-at-close"),
        pytest.param(4 * MIB, 12 * MIB, id="sent-while-written"),
    ],
)
def test_quota_exhausted_at_close_is_enospc(
    hcp: Emulator, mnt: Path, hcp_status: Callable[[str], int], quota: int, size: int
) -> None:
    """§8.8, §7: HCP's 413 (quota) fails close() with ENOSPC; nothing is stored. A file large
    enough is sent while it is written; the refusal still reaches close()."""
    tenant = hcp.system.config.tenant("dev")
    assert tenant is not None
    namespace = tenant.namespace("ns1")
    assert namespace is not None
    namespace.hard_quota_bytes = quota
    path = mnt / "too-big.bin"
    assert errno_of(lambda: write_and_close(path, os.urandom(size))) == errno.ENOSPC
    assert hcp_status("/too-big.bin") == 404


def test_overwrite_refused_by_policy_is_eperm(mount_hcpfs: MountFactory) -> None:
    """§8.5, §7: with overwrite=refuse, opening an existing file for writing gives EPERM."""
    mnt = mount_hcpfs("overwrite=refuse").path
    path = mnt / "once.txt"
    path.write_text("first")
    assert errno_of(lambda: path.write_text("second")) == errno.EPERM
    assert path.read_text() == "first"


def test_a_store_failing_at_close_loses_nothing(
    hcp: Emulator, mount_hcpfs: MountFactory, hcp_status: Callable[[str], int]
) -> None:
    """§8.8, §6: uploads that keep failing make close() fail with EIO; HCP has no object, the
    mount shows none, and the data stays in the staging directory.

    Every node resets the connection after 64 KiB of each upload (the emulator's fault
    injection), so every retry of the client fails too.
    """
    mount = mount_hcpfs()
    data = os.urandom(MIB)
    hcp.system.faults.reset_request(64 * 1024, count=None)
    assert errno_of(lambda: write_and_close(mount.path / "lost.bin", data)) == errno.EIO
    hcp.system.faults.clear()
    assert hcp_status("/lost.bin") == 404
    assert not (mount.path / "lost.bin").exists()
    kept = [leftover.data.read_bytes() for leftover in StagingArea(mount.staging).leftovers()]
    assert kept == [data]
    assert "lost.bin" in mount.log_text()  # the WARNING names the file


def test_a_node_going_down_during_cp_stays_hidden(
    hcp: Emulator, tmp_path: Path, mnt: Path
) -> None:
    """§2 tenet 1, §8.8: a node stopped in the middle of cp -r: cp succeeds, data identical."""
    tree = tmp_path / "tree"
    for directory in range(4):
        (tree / f"d{directory}").mkdir(parents=True)
        for number in range(40):
            (tree / f"d{directory}" / f"f{number}").write_bytes(os.urandom(64 * 1024))
    copy = subprocess.Popen(
        ["cp", "-r", str(tree), str(mnt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        started = mounting.wait_until(
            lambda: len(list((mnt / "tree").rglob("f*"))) >= 20 or copy.poll() is not None,
            time.monotonic() + TIMEOUT,
        )
        assert started and copy.poll() is None, "cp finished before the node could be stopped"
        hcp.nodes[1].stop()
        _, err = copy.communicate(timeout=TIMEOUT)
    finally:
        if copy.poll() is None:
            copy.kill()
        copy.wait(TIMEOUT)
    assert copy.returncode == 0, err.decode()
    result = subprocess.run(
        ["diff", "-r", str(tree), str(mnt / "tree")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hard_links_are_eperm(mnt: Path) -> None:
    """§8.13, §7: HCP has no hard links."""
    (mnt / "a").write_text("a")
    assert errno_of(lambda: os.link(mnt / "a", mnt / "b")) == errno.EPERM


def test_a_directory_tree_moves_with_mv(tmp_path: Path, mnt: Path) -> None:
    """§8.12: rename of a non-empty directory is EXDEV, which mv turns into copy and delete."""
    tree = tmp_path / "tree"
    shutil.copytree(hcpfs.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["cp", "-r", str(tree), str(mnt / "one")], check=True, timeout=TIMEOUT)
    assert errno_of(lambda: os.rename(mnt / "one", mnt / "two")) == errno.EXDEV
    subprocess.run(["mv", str(mnt / "one"), str(mnt / "two")], check=True, timeout=TIMEOUT)
    assert not (mnt / "one").exists()
    result = subprocess.run(
        ["diff", "-r", str(tree), str(mnt / "two")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
