"""Ordinary tools on a real mount: cp, tar, rsync, find, du, a large file and parallel I/O.

Sections of docs/SEMANTICS.md checked: §8.2 (readdir), §8.6 (read), §8.7 and §8.8 (write and
upload), §8.14 (symbolic links), §8.15 (chmod and utimens kept in memory), §6 (durability).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import hcpfs

if TYPE_CHECKING:
    from conftest import MountFactory

MIB = 1024 * 1024
TIMEOUT = 120


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A copy of the project's own ``hcpfs`` package, without compiled files."""
    tree = tmp_path / "src" / "hcpfs"
    shutil.copytree(hcpfs.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tree


def test_cp_r_of_a_source_tree_is_identical(source_tree: Path, mnt: Path) -> None:
    """§8.7, §8.8, §8.2, §8.6: cp -r in, diff -r finds no difference."""
    run("cp", "-r", source_tree, mnt)
    run("diff", "-r", source_tree, mnt / "hcpfs")


def test_tar_extracts_into_the_mount(tmp_path: Path, source_tree: Path, mnt: Path) -> None:
    """§8.7, §8.14, §8.15: tar -x recreates files, directories and symbolic links."""
    (source_tree / "link-to-cli").symlink_to("cli.py")
    archive = tmp_path / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(source_tree, arcname="hcpfs")
    run("tar", "-x", "-f", archive, "-C", mnt)
    run("diff", "-r", source_tree, mnt / "hcpfs")
    assert os.readlink(mnt / "hcpfs" / "link-to-cli") == "cli.py"


def test_rsync_twice_sends_no_data_the_second_time(source_tree: Path, mnt: Path) -> None:
    """§8.15: rsync -a sets times the mount keeps, so a second run has nothing to send."""
    first = run("rsync", "-a", "--stats", f"{source_tree}/", mnt / "copy")
    files = len([p for p in source_tree.rglob("*") if p.is_file()])
    assert f"Number of regular files transferred: {files}" in first.stdout
    second = run("rsync", "-a", "--stats", f"{source_tree}/", mnt / "copy")
    assert "Number of regular files transferred: 0" in second.stdout
    run("diff", "-r", source_tree, mnt / "copy")


def test_find_and_du_see_the_whole_tree(mnt: Path) -> None:
    """§8.1, §8.2: find lists every file; du adds up their sizes."""
    expected = []
    total = 0
    for top in range(3):
        for sub in range(4):
            directory = mnt / f"d{top}" / f"s{sub}"
            directory.mkdir(parents=True)
            for number in range(5):
                path = directory / f"f{number}"
                size = 1000 * (top + sub + number + 1)
                path.write_bytes(b"x" * size)
                expected.append(str(path))
                total += size
    found = run("find", mnt, "-type", "f").stdout.split()
    assert sorted(found) == sorted(expected)
    directories = run("find", mnt, "-mindepth", "1", "-type", "d").stdout.split()
    assert len(directories) == 3 + 12
    assert int(run("du", "-s", "-b", mnt).stdout.split()[0]) == total


def test_a_256_mib_file_survives_a_remount(mount_hcpfs: MountFactory) -> None:
    """§6, §8.6, §8.8: SHA-256 of a 256 MiB file written, then read back after a remount."""
    mount = mount_hcpfs()
    path = mount.path / "big.bin"
    generator = random.Random(256)
    written = hashlib.sha256()
    block = generator.randbytes(MIB)
    with path.open("wb") as file:
        for number in range(256):
            # Vary each block cheaply so no two are alike.
            piece = number.to_bytes(4, "big") + block[4:]
            written.update(piece)
            file.write(piece)
    mount.remount()
    assert path.stat().st_size == 256 * MIB
    read = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MIB):
            read.update(chunk)
    assert read.hexdigest() == written.hexdigest()


def test_a_large_file_rewritten_at_its_start_keeps_the_last_data(
    mount_hcpfs: MountFactory,
) -> None:
    """§8.7, §8.8: a write behind the end of a file being sent while written: the upload is
    given up and the staged copy, with the change, is what HCP gets."""
    mount = mount_hcpfs()
    path = mount.path / "patched.bin"
    data = bytearray(random.Random(12).randbytes(16 * MIB))
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        file.seek(1000)
        file.write(b"patched")
    data[1000:1007] = b"patched"
    mount.remount()
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_a_reader_sees_what_a_write_only_handle_wrote_at_once(mnt: Path) -> None:
    """§5, §8.7: writes of a handle that bypass the kernel's page cache (write-only, emptied
    file) reach a reader that has the file open and cached, also when they rewrite bytes."""
    path = mnt / "shared"
    path.write_bytes(b"A" * MIB)
    reader = os.open(path, os.O_RDONLY)
    writer = -1
    try:
        assert os.pread(reader, 4, 0) == b"AAAA"
        writer = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.write(writer, b"B" * MIB)
        assert os.pread(reader, 4, 0) == b"BBBB"
        assert os.fstat(reader).st_size == MIB
        os.pwrite(writer, b"C" * 4096, 0)
        assert os.pread(reader, 4, 0) == b"CCCC"
        os.close(writer)
        writer = -1
        assert os.pread(reader, 4, 4096) == b"BBBB"
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)
    assert path.read_bytes() == b"C" * 4096 + b"B" * (MIB - 4096)


def test_eight_writers_and_eight_readers_at_once(mnt: Path) -> None:
    """§8.6, §8.7, §8.8: parallel programs on distinct files each get their own data."""
    size = 3 * MIB + 12345
    contents = {n: random.Random(n).randbytes(size) for n in range(16)}
    for number in range(8, 16):
        (mnt / f"old-{number}").write_bytes(contents[number])
    failures: list[str] = []

    def write(number: int) -> None:
        with (mnt / f"new-{number}").open("wb") as file:
            data = contents[number]
            for start in range(0, size, 256 * 1024):
                file.write(data[start : start + 256 * 1024])

    def read(number: int) -> None:
        if (mnt / f"old-{number}").read_bytes() != contents[number]:
            failures.append(f"old-{number} read back differently")

    def guarded(function: object, number: int) -> None:
        try:
            function(number)  # type: ignore[operator]
        except OSError as error:
            failures.append(f"{number}: {error}")

    threads = [threading.Thread(target=guarded, args=(write, n)) for n in range(8)]
    threads += [threading.Thread(target=guarded, args=(read, n)) for n in range(8, 16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    for number in range(8):
        assert (mnt / f"new-{number}").read_bytes() == contents[number]


def test_ls_a_shows_dot_and_dot_dot(mnt: Path) -> None:
    """§8.2: ``.`` and ``..`` are listed first, as on a local filesystem."""
    (mnt / "d").mkdir()
    (mnt / "d" / "f").write_bytes(b"x")
    assert run("ls", "-a", "-f", mnt / "d").stdout.split() == [".", "..", "f"]
    lines = run("ls", "-la", mnt / "d").stdout.splitlines()[1:]
    assert [line.split()[-1] for line in lines] == [".", "..", "f"]
    assert lines[0].startswith("d")


def test_ls_shows_sizes_from_the_listing(mnt: Path) -> None:
    """§4, §8.2: ls -l shows each file's size and the mode of §4."""
    for number in range(20):
        (mnt / f"f{number:02}").write_bytes(b"z" * number)
    listing = run("ls", "-l", mnt).stdout.splitlines()[1:]
    sizes = {line.split()[-1]: int(line.split()[4]) for line in listing}
    assert sizes == {f"f{number:02}": number for number in range(20)}
    assert all(re.match(r"-rw-r--r-- 1 ", line) for line in listing)
