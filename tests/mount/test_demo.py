"""``hcpfs demo`` (``make demo``) twice in a row, then ``hcpfs demo --stop`` (``make stop``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcpfs.emulator import demo
from hcpfs.fs import mounting

DEADLINE = 120.0

pytestmark = pytest.mark.mount


@pytest.fixture
def places(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """The demo's data directory, mount point and tree; whatever runs is stopped afterwards."""
    data, mnt, tree = tmp_path / "demo-data", tmp_path / "mnt", tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "README.md").write_text("# A small tree\n\nfor the demo\n")
    (tree / "sub" / "notes.txt").write_text("notes\n")
    yield data, mnt, tree
    if mounting.mounted_at(mnt) is not None:
        pid = mounting.serving_pid(mnt)
        subprocess.run(["fusermount3", "-uz", str(mnt)], check=False)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    record = demo.running_emulator(data)
    if record is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        mounting.wait_until(lambda: not record.alive(), time.monotonic() + DEADLINE)


def hcpfs_demo(cwd: Path, *arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hcpfs.cli", "demo", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        cwd=cwd,
    )


def test_demo_twice_then_stop(places: tuple[Path, Path, Path]) -> None:
    data, mnt, tree = places
    # Relative paths, as make demo gives them.
    where = ["--data-dir", data.name, "--mountpoint", mnt.name]
    first = hcpfs_demo(data.parent, *where, "--tree", tree.name)
    assert first.returncode == 0, first.stdout + first.stderr
    for shown in ("$ cp -r", "$ ls -l", "identical", "$ df -h", "Operation not permitted"):
        assert shown in first.stdout, first.stdout
    assert "make stop" in first.stdout
    emulator = demo.running_emulator(data)
    assert emulator is not None
    assert (mnt / "tree" / "sub" / "notes.txt").read_text() == "notes\n"

    second = hcpfs_demo(data.parent, *where, "--tree", tree.name)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Stopped the HCP emulator (process {emulator.pid})" in second.stdout
    assert not emulator.alive()
    again = demo.running_emulator(data)
    assert again is not None and again.pid != emulator.pid
    # The data directory is kept: both runs' files are there.
    assert len(list(mnt.glob("retained-*.txt"))) >= 1
    serving = mounting.serving_pid(mnt)
    assert serving is not None

    stopped = hcpfs_demo(data.parent, "--stop", *where)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert mounting.mounted_at(mnt) is None
    assert not again.alive() and not mounting.alive(serving)
    assert demo.running_emulator(data) is None
    quiet = hcpfs_demo(data.parent, "--stop", *where)
    assert quiet.returncode == 0 and "Stopped" not in quiet.stdout
