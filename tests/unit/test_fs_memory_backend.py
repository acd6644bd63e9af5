"""The in-memory backend follows the HCP rules the filesystem relies on."""

import hashlib
import io

import pytest

from hcpfs.fs.backend import (
    SYMLINK_ANNOTATION,
    BackendConnectionError,
    BackendError,
    DirInfo,
    IntegrityError,
    ObjectInfo,
    ObjectSettings,
    SymlinkInfo,
)
from hcpfs.fs.memory_backend import MemoryBackend, hcp_hash

NOW = 1_700_000_000.0


def store(backend: MemoryBackend, path: str, data: bytes, **settings: object) -> ObjectInfo:
    digest = hashlib.sha256(data).hexdigest()
    given = ObjectSettings(**settings) if settings else None  # type: ignore[arg-type]
    return backend.store(path, io.BytesIO(data), len(data), digest, given)


def status_of(call: object, *args: object) -> int:
    with pytest.raises(BackendError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.status


def test_store_returns_hcp_attributes_and_creates_parents() -> None:
    backend = MemoryBackend(clock=lambda: NOW)
    info = store(backend, "/a/b/c.txt", b"data")
    assert info.size == 4
    assert info.etag == hashlib.md5(b"data").hexdigest()
    assert info.hash == hcp_hash(b"data")
    assert info.hash.startswith("SHA-256 ")
    assert info.ingest_time == NOW
    assert backend.stat("/a/b") == DirInfo("/a/b", NOW)
    assert [e.name for e in backend.listdir("/a")] == ["b"]


def test_no_overwrite_without_versioning_and_new_version_with_it() -> None:
    plain = MemoryBackend()
    store(plain, "/x", b"1")
    assert status_of(store, plain, "/x", b"2") == 409
    assert plain.data_of("/x") == b"1"
    versioned = MemoryBackend(versioning=True)
    first = store(versioned, "/x", b"1")
    second = store(versioned, "/x", b"2")
    assert versioned.data_of("/x") == b"2"
    assert int(second.version_id) > int(first.version_id)
    assert versioned.statistics().object_count == 2


def test_retention_and_hold_block_delete_and_new_versions() -> None:
    backend = MemoryBackend(versioning=True, clock=lambda: NOW)
    store(backend, "/r", b"1", retention="N+1d")
    assert status_of(backend.delete, "/r") == 403
    assert status_of(store, backend, "/r", b"2") == 403
    store(backend, "/h", b"1", hold=True)
    assert status_of(backend.delete, "/h") == 403
    backend.set_metadata("/h", ObjectSettings(hold=False))
    backend.delete("/h")
    assert status_of(backend.stat, "/h") == 404


def test_retention_rules() -> None:
    backend = MemoryBackend(clock=lambda: NOW, retention_classes={"keep": "A+1y"})
    store(backend, "/o", b"1")
    backend.set_metadata("/o", ObjectSettings(retention="A+10d"))
    info = backend.stat("/o")
    assert isinstance(info, ObjectInfo)
    assert info.retention == int(NOW) + 10 * 86400
    assert info.retention_string.endswith("+0000")
    # shortening, hold with retention, unknown class, garbage: all 400
    assert status_of(backend.set_metadata, "/o", ObjectSettings(retention="A+1d")) == 400
    both = ObjectSettings(retention="A+20d", hold=True)
    assert status_of(backend.set_metadata, "/o", both) == 400
    assert status_of(backend.set_metadata, "/o", ObjectSettings(retention="C+nope")) == 400
    assert status_of(backend.set_metadata, "/o", ObjectSettings(retention="soon")) == 400
    backend.set_metadata("/o", ObjectSettings(retention="C+keep"))
    backend.set_metadata("/o", ObjectSettings(retention="Deletion Prohibited"))
    assert status_of(backend.set_metadata, "/o", ObjectSettings(retention="A+99y")) == 400
    info = backend.stat("/o")
    assert isinstance(info, ObjectInfo)
    assert info.retention_string == "Deletion Prohibited"


def test_expired_retention_allows_delete() -> None:
    clock = [NOW]
    backend = MemoryBackend(clock=lambda: clock[0])
    store(backend, "/o", b"1", retention=str(int(NOW) + 60))
    assert status_of(backend.delete, "/o") == 403
    clock[0] += 61
    backend.delete("/o")


def test_shred_cannot_be_turned_off_and_hold_needs_privilege() -> None:
    backend = MemoryBackend(privileged=False)
    store(backend, "/o", b"1", shred=True)
    assert status_of(backend.set_metadata, "/o", ObjectSettings(shred=False)) == 400
    assert status_of(backend.set_metadata, "/o", ObjectSettings(hold=True)) == 403


def test_directories() -> None:
    backend = MemoryBackend()
    backend.mkdir("/d/e")
    assert isinstance(backend.stat("/d"), DirInfo)
    assert status_of(backend.mkdir, "/d") == 409
    store(backend, "/d/e/f", b"1")
    assert status_of(backend.rmdir, "/d/e") == 403
    assert status_of(store, backend, "/d", b"x") == 409
    assert status_of(store, backend, "/d/e/f/g", b"x") == 409
    backend.delete("/d/e/f")
    backend.rmdir("/d/e")
    assert status_of(backend.rmdir, "/d/e") == 404
    assert status_of(backend.listdir, "/nothing") == 404


def test_quota() -> None:
    backend = MemoryBackend(capacity=10)
    store(backend, "/a", b"12345678")
    assert status_of(store, backend, "/b", b"123") == 413
    assert backend.statistics().used_capacity_bytes == 8


def test_ranges_and_if_match() -> None:
    backend = MemoryBackend()
    info = store(backend, "/a", b"0123456789")
    assert backend.read("/a", 2, 3) == b"234"
    assert backend.read("/a", 8, 100) == b"89"
    assert backend.read("/a", 0, 1, info.etag) == b"0"
    assert status_of(backend.read, "/a", 0, 1, "other") == 412
    assert status_of(backend.read, "/a", 10, 1) == 416
    assert status_of(backend.read, "/a", 0, 0) == 416


def test_copy_keeps_annotations_and_refuses_existing_target() -> None:
    backend = MemoryBackend()
    store(backend, "/a", b"data")
    backend.put_annotation("/a", "note", b"<x/>")
    copied = backend.copy("/a", "/b")
    assert copied.hash == hcp_hash(b"data")
    assert backend.annotations_of("/b") == {"note": b"<x/>"}
    assert status_of(backend.copy, "/a", "/b") == 409
    backend.symlink("/l", "a")
    assert status_of(backend.copy, "/l", "/c") == 400


def test_symlinks_made_through_hcpfs_and_natively() -> None:
    backend = MemoryBackend()
    backend.symlink("/l", "target/file")
    assert backend.stat("/l") == SymlinkInfo("/l", None, 11, backend.stat("/l").change_time)
    assert backend.read("/l", 0, 11) == b"target/file"
    assert SYMLINK_ANNOTATION in backend.annotations_of("/l")
    backend.put_native_symlink("/n", "x")
    native = backend.stat("/n")
    assert isinstance(native, SymlinkInfo)
    assert native.target == "x"


def test_annotations() -> None:
    backend = MemoryBackend()
    store(backend, "/a", b"1")
    assert backend.get_annotation("/a", "x") is None
    for number in range(10):
        backend.put_annotation("/a", f"n{number}", b"v")
    assert status_of(backend.put_annotation, "/a", "eleven", b"v") == 400
    backend.put_annotation("/a", "n0", b"replaced")
    assert backend.get_annotation("/a", "n0") == b"replaced"
    assert backend.delete_annotation("/a", "n0")
    assert not backend.delete_annotation("/a", "n0")
    assert status_of(backend.put_annotation, "/a", "big", b"x" * (1024 * 1024 + 1)) == 413
    assert status_of(backend.put_annotation, "/a", "bad name!", b"") == 400
    assert len(backend.list_annotations("/a")) == 9


def test_store_with_wrong_hash_or_corruption_raises_integrity_error() -> None:
    backend = MemoryBackend()
    with pytest.raises(IntegrityError):
        backend.store("/a", io.BytesIO(b"data"), 4, "00" * 32)
    backend.corrupt_next_store()
    with pytest.raises(IntegrityError) as caught:
        store(backend, "/b", b"data")
    assert caught.value.actual != hcp_hash(b"data")
    assert backend.data_of("/b") != b"data"  # HCP kept what it got
    store(backend, "/c", b"data")  # one store only


def test_injected_faults_count_down_and_match_paths() -> None:
    backend = MemoryBackend()
    backend.fail_next("store", 503, path="/b", times=2)
    store(backend, "/a", b"1")
    assert status_of(store, backend, "/b", b"1") == 503
    assert status_of(store, backend, "/b", b"1") == 503
    store(backend, "/b", b"1")
    backend.disconnect_next("stat")
    with pytest.raises(BackendConnectionError):
        backend.stat("/a")
    assert backend.stat("/a").path == "/a"
    assert backend.requests["store"] == 4
