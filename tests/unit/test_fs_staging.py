"""The staging area of docs/SEMANTICS.md §6: hashes, companions, spares, leftovers."""

import hashlib
import json
import logging
from pathlib import Path

import pytest

from hcpfs.fs.staging import SPARES, StagingArea


def test_sequential_writes_keep_the_hash_without_rereading(tmp_path: Path) -> None:
    staged = StagingArea(tmp_path).create("/a")
    staged.write(0, b"hello ")
    staged.write(6, b"world")
    assert staged.sequential
    assert staged.sha256() == hashlib.sha256(b"hello world").hexdigest()
    assert staged.size == 11
    staged.discard()


@pytest.mark.parametrize(
    "steps",
    [
        [(5, b"world"), (0, b"hello")],  # out of order
        [(0, b"hello world"), (0, b"J")],  # overwrite
        [(0, b"abc"), (10, b"xyz")],  # hole
    ],
)
def test_non_sequential_writes_rehash_from_the_file(
    tmp_path: Path, steps: list[tuple[int, bytes]]
) -> None:
    staged = StagingArea(tmp_path).create("/a")
    expected = bytearray()
    for offset, data in steps:
        staged.write(offset, data)
        end = offset + len(data)
        expected.extend(b"\0" * max(0, end - len(expected)))
        expected[offset:end] = data
    assert not staged.sequential
    assert staged.sha256() == hashlib.sha256(bytes(expected)).hexdigest()
    assert staged.sequential  # the hash follows appends again after a recomputation
    staged.write(staged.size, b"!")
    assert staged.sha256() == hashlib.sha256(bytes(expected) + b"!").hexdigest()
    staged.discard()


def test_truncate_shorter_and_longer(tmp_path: Path) -> None:
    staged = StagingArea(tmp_path).create("/a")
    staged.write(0, b"0123456789")
    staged.truncate(4)
    assert staged.read(0, 100) == b"0123"
    assert staged.sha256() == hashlib.sha256(b"0123").hexdigest()
    staged.truncate(6)
    assert staged.read(0, 100) == b"0123\0\0"
    assert staged.sha256() == hashlib.sha256(b"0123\0\0").hexdigest()
    staged.discard()


def test_append_chunks_and_reader(tmp_path: Path) -> None:
    staged = StagingArea(tmp_path).create("/a")
    staged.append_chunks([b"ab", b"cd", b""])
    with staged.reader() as file:
        assert file.read() == b"abcd"
    staged.write(4, b"ef")  # writes go on after a read, which starts from the start again
    with staged.reader() as file:
        assert file.read(3) == b"abc"
    with staged.reader() as file:
        assert file.read() == b"abcdef"
    assert staged.sequential
    staged.discard()


def test_the_reader_shares_the_open_descriptor(tmp_path: Path) -> None:
    """A second open and close of the data would make ext4 write it out after truncation."""
    staged = StagingArea(tmp_path).create("/a")
    staged.write(0, b"data")
    staged.data.rename(tmp_path / "moved")
    with staged.reader() as file:
        assert file.read() == b"data"
    staged.discard()


def test_companion_names_path_and_state(tmp_path: Path) -> None:
    area = StagingArea(tmp_path)
    staged = area.create("/dir/file")
    record = json.loads(staged.meta.read_text())
    assert (record["path"], record["state"]) == ("/dir/file", "writing")
    staged.mark("failed", "HCP answered 413")
    staged.path = "/dir/renamed"
    record = json.loads(staged.meta.read_text())
    assert record == {**record, "path": "/dir/renamed", "state": "failed"}
    assert record["error"] == "HCP answered 413"
    staged.mark("stored")  # a shorter record over a longer one still reads back whole
    assert json.loads(staged.meta.read_text())["state"] == "stored"
    staged.discard()
    area.close()
    assert list(tmp_path.iterdir()) == []


def test_a_discarded_file_is_emptied_and_reused(tmp_path: Path) -> None:
    area = StagingArea(tmp_path)
    first = area.create("/a")
    first.write(0, b"first content")
    data = first.data
    first.discard()
    assert data.stat().st_size == 0
    assert area.leftovers() == [], "a spare holds no data"

    second = area.create("/b")
    assert second.data == data
    second.write(0, b"2nd")
    assert second.read(0, 100) == b"2nd"
    assert second.sha256() == hashlib.sha256(b"2nd").hexdigest()
    assert json.loads(second.meta.read_text())["path"] == "/b"
    first.close()  # a stale object must not close the descriptor its successor uses
    assert second.read(0, 100) == b"2nd"
    second.discard()
    area.close()


def test_spares_are_bounded_and_deleted_at_close(tmp_path: Path) -> None:
    area = StagingArea(tmp_path)
    files = [area.create(f"/f{n}") for n in range(SPARES + 3)]
    for staged in files:
        staged.discard()
    assert len(list(tmp_path.glob("staged-*.data"))) == SPARES
    area.close()
    assert list(tmp_path.iterdir()) == []


def test_spares_left_by_an_earlier_run_are_deleted_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    StagingArea(tmp_path).create("/a").discard()  # the area is never closed: a crash
    assert len(list(tmp_path.glob("staged-*.data"))) == 1
    with caplog.at_level(logging.WARNING):
        assert StagingArea(tmp_path).report_leftovers() == []
    assert not caplog.records
    assert list(tmp_path.iterdir()) == []


def test_staging_files_are_private(tmp_path: Path) -> None:
    area = StagingArea(tmp_path / "new")
    staged = area.create("/a")
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert staged.data.stat().st_mode & 0o777 == 0o600
    staged.discard()


def test_leftovers_are_reported_and_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = StagingArea(tmp_path)
    kept = first.create("/important")
    kept.write(0, b"precious")
    kept.mark("failed", "HCP answered 503")
    kept.close()
    orphan = tmp_path / "staged-orphan.data"
    orphan.write_bytes(b"x")

    with caplog.at_level(logging.WARNING, logger="hcpfs.fs.staging"):
        leftovers = StagingArea(tmp_path).report_leftovers()

    by_path = {leftover.path: leftover for leftover in leftovers}
    assert set(by_path) == {"/important", ""}
    assert by_path["/important"].size == 8
    assert by_path["/important"].state == "failed"
    assert by_path["/important"].error == "HCP answered 503"
    assert by_path[""].state == "unknown"
    assert kept.data.read_bytes() == b"precious"
    assert orphan.exists()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any("/important" in r.getMessage() for r in warnings)


def test_no_leftovers_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert StagingArea(tmp_path).report_leftovers() == []
    assert not caplog.records
