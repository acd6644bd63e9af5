"""The filesystem's backend on hcpfs.sdk, against the emulator: every request, the errors, and a
system with one of its two nodes down."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator

import pytest

from hcpfs.emulator import Emulator
from hcpfs.fs.backend import (
    RETENTION_ALLOWED,
    SYMLINK_ANNOTATION,
    BackendConnectionError,
    BackendError,
    DirInfo,
    IntegrityError,
    ObjectInfo,
    ObjectSettings,
    SymlinkInfo,
)
from hcpfs.fs.hcpbackend import HcpBackend, annotation_names
from hcpfs.fs.upload import AbandonedError
from hcpfs.sdk import NativeAuthorization, Target


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """A two-node emulator for the whole module (reset before each test by the conftest)."""
    with Emulator(nodes=2, port=0) as emulator:
        yield emulator


def make_backend(
    hcp: Emulator, host: str | None = None, password: str | None = None
) -> HcpBackend:
    auth = NativeAuthorization(hcp.user, password or hcp.password)
    target = Target(host or hcp.host, auth, port=hcp.port, lookup=lambda name: hcp.addresses)
    return HcpBackend(target, timeout=10.0, retries=3)


@pytest.fixture
def backend(hcp: Emulator) -> Iterator[HcpBackend]:
    made = make_backend(hcp)
    yield made
    made.close()


def store(backend: HcpBackend, path: str, data: bytes, **settings: object) -> ObjectInfo:
    wanted = ObjectSettings(**settings) if settings else None  # type: ignore[arg-type]
    digest = hashlib.sha256(data).hexdigest()
    return backend.store(path, io.BytesIO(data), len(data), digest, wanted)


class CountingReader(io.BytesIO):
    """A file that remembers the largest single read, to prove a store streams."""

    largest = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


# -- namespace ---------------------------------------------------------------------------------


def test_namespace_info_and_statistics(hcp: Emulator, backend: HcpBackend) -> None:
    info = backend.namespace_info()
    assert (info.name, info.versioning, info.hash_scheme) == ("ns1", False, "SHA-256")
    assert info.retention_mode == "enterprise"
    store(backend, "/a", b"12345")
    stats = backend.statistics()
    assert stats.total_capacity_bytes == 50 * 1024**3
    assert stats.object_count == 1
    assert stats.used_capacity_bytes >= 5
    versioned = make_backend(hcp, "versioned.dev.hcp.example.com")
    try:
        assert versioned.namespace_info().versioning is True
    finally:
        versioned.close()


def test_check_access_tells_credentials_from_namespace(hcp: Emulator) -> None:
    refused = make_backend(hcp, password="wrong")
    unknown = make_backend(hcp, host="nothere.dev.hcp.example.com")
    try:
        with pytest.raises(BackendError) as bad_password:
            refused.check_access()
        with pytest.raises(BackendError) as no_namespace:
            unknown.check_access()
    finally:
        refused.close()
        unknown.close()
    assert bad_password.value.status == 403
    assert no_namespace.value.status == 400


# -- objects -----------------------------------------------------------------------------------


def test_store_stat_and_list_describe_the_object(backend: HcpBackend) -> None:
    data = b"hello, HCP"
    stored = store(backend, "/dir/hello.txt", data)
    expected_hash = "SHA-256 " + hashlib.sha256(data).hexdigest().upper()
    assert stored.size == len(data) and stored.hash == expected_hash
    assert stored.etag == hashlib.md5(data).hexdigest()
    headed = backend.stat("/dir/hello.txt")
    listed = backend.listdir("/dir")
    assert listed == [headed]
    assert isinstance(headed, ObjectInfo)
    assert (headed.size, headed.hash, headed.etag) == (stored.size, stored.hash, stored.etag)
    assert headed.version_id == stored.version_id
    assert headed.retention == RETENTION_ALLOWED and headed.retention_string == "Deletion Allowed"
    assert headed.ingest_time == pytest.approx(stored.ingest_time, abs=0.01)
    assert isinstance(backend.stat("/dir"), DirInfo)
    assert [entry.path for entry in backend.listdir("/")] == ["/dir"]


def test_store_streams_the_file(backend: HcpBackend) -> None:
    data = bytes(range(256)) * (32 * 1024)  # 8 MiB
    source = CountingReader(data)
    backend.store("/big", source, len(data), hashlib.sha256(data).hexdigest())
    assert 0 < source.largest <= 1024 * 1024
    assert backend.read("/big", 0, len(data)) == data


def test_store_stream_sends_the_pieces_as_they_come(backend: HcpBackend) -> None:
    pieces = [bytes([n]) * 300_000 for n in range(7)]
    info = backend.store_stream("/streamed", iter(pieces))
    data = b"".join(pieces)
    assert info.size == len(data)
    assert info.hash == "SHA-256 " + hashlib.sha256(data).hexdigest().upper()
    assert backend.read("/streamed", 0, len(data)) == data


def test_store_stream_with_settings_reports_them(backend: HcpBackend) -> None:
    info = backend.store_stream("/kept", iter([b"x"]), ObjectSettings(shred=True, index=False))
    assert info.shred and not info.index


def test_store_stream_cut_off_stores_nothing(hcp: Emulator, backend: HcpBackend) -> None:
    def cut_off() -> Iterator[bytes]:
        yield b"a" * 100_000
        raise AbandonedError("given up")

    with pytest.raises(AbandonedError):
        backend.store_stream("/cut", cut_off())
    with pytest.raises(BackendError) as raised:
        backend.stat("/cut")
    assert raised.value.status == 404
    assert backend.statistics().object_count == 0


def test_store_with_settings_reports_them(backend: HcpBackend) -> None:
    info = store(backend, "/kept", b"x", retention="N+1d", hold=True, shred=True, index=False)
    assert info.retention > 0 and info.hold and info.shred and not info.index
    assert info.protected(info.ingest_time)


def test_store_compares_the_hash(backend: HcpBackend) -> None:
    data = b"some data"
    wrong = hashlib.sha256(b"other data").hexdigest()
    with pytest.raises(IntegrityError) as raised:
        backend.store("/h", io.BytesIO(data), len(data), wrong)
    assert raised.value.expected == "SHA-256 " + wrong.upper()
    assert raised.value.actual == "SHA-256 " + hashlib.sha256(data).hexdigest().upper()


def test_store_over_an_object_without_versioning_is_409(backend: HcpBackend) -> None:
    store(backend, "/once", b"first")
    with pytest.raises(BackendError) as raised:
        store(backend, "/once", b"second")
    assert raised.value.status == 409 and raised.value.path == "/once"


def test_store_in_a_versioned_namespace_adds_a_version(hcp: Emulator) -> None:
    versioned = make_backend(hcp, "versioned.dev.hcp.example.com")
    try:
        first = store(versioned, "/v", b"one")
        second = store(versioned, "/v", b"two")
        assert first.version_id != second.version_id
        assert versioned.read("/v", 0, 3) == b"two"
    finally:
        versioned.close()


def test_read_ranges_and_conditions(backend: HcpBackend) -> None:
    info = store(backend, "/r", b"0123456789")
    assert backend.read("/r", 2, 3, info.etag) == b"234"
    assert backend.read("/r", 8, 100) == b"89"
    with pytest.raises(BackendError) as changed:
        backend.read("/r", 0, 1, "0" * 32)
    with pytest.raises(BackendError) as past_end:
        backend.read("/r", 10, 1)
    with pytest.raises(BackendError) as missing:
        backend.read("/nothing", 0, 1)
    assert (changed.value.status, past_end.value.status, missing.value.status) == (412, 416, 404)


def test_names_are_percent_encoded(backend: HcpBackend) -> None:
    names = ["a b", "100%", "a%41b", "plus+sign", "q?x#y&z", "ünïcödé", "semi;colon"]
    for name in names:
        store(backend, f"/n/{name}", name.encode())
    assert sorted(entry.name for entry in backend.listdir("/n")) == sorted(names)
    for name in names:
        assert backend.read(f"/n/{name}", 0, 100) == name.encode()
        assert backend.stat(f"/n/{name}").path == f"/n/{name}"


def test_copy_keeps_data_and_annotations(backend: HcpBackend) -> None:
    original = store(backend, "/src", b"copied data")
    backend.put_annotation("/src", "note", b"<n/>")
    copied = backend.copy("/src", "/dst")
    assert (copied.hash, copied.size, copied.annotations) == (original.hash, 11, ("note",))
    assert backend.get_annotation("/dst", "note") == b"<n/>"
    store(backend, "/other", b"different")
    with pytest.raises(BackendError) as taken:
        backend.copy("/src", "/other")
    with pytest.raises(BackendError) as no_source:
        backend.copy("/missing", "/x")
    assert taken.value.status == 409
    assert no_source.value.status == 404


def test_delete_and_its_refusals(backend: HcpBackend) -> None:
    store(backend, "/gone", b"x")
    backend.delete("/gone")
    with pytest.raises(BackendError) as missing:
        backend.stat("/gone")
    store(backend, "/kept", b"x", retention="N+1d")
    with pytest.raises(BackendError) as retained:
        backend.delete("/kept")
    assert missing.value.status == 404
    assert retained.value.status == 403 and "retention" in retained.value.message


def test_directories(backend: HcpBackend) -> None:
    backend.mkdir("/d")
    backend.mkdir("/d")  # HCP's 409 for an existing directory is taken as a repeated request
    assert isinstance(backend.stat("/d"), DirInfo)
    store(backend, "/d/f", b"x")
    with pytest.raises(BackendError) as not_empty:
        backend.rmdir("/d")
    with pytest.raises(BackendError) as not_a_directory:
        backend.listdir("/d/f")
    store(backend, "/file", b"x")
    with pytest.raises(BackendError) as name_taken:
        backend.mkdir("/file")
    backend.delete("/d/f")
    backend.rmdir("/d")
    assert backend.listdir("/") == [backend.stat("/file")]
    assert (not_empty.value.status, not_a_directory.value.status) == (403, 404)
    assert name_taken.value.status == 409


def test_symlinks_made_by_hcpfs(backend: HcpBackend) -> None:
    backend.symlink("/link", "../target with space")
    headed = backend.stat("/link")
    assert isinstance(headed, SymlinkInfo)
    assert headed.target is None and headed.size == len("../target with space")
    assert backend.listdir("/") == [headed]
    assert backend.read("/link", 0, headed.size) == b"../target with space"
    assert backend.list_annotations("/link") == [SYMLINK_ANNOTATION]


def test_set_metadata(backend: HcpBackend) -> None:
    store(backend, "/m", b"x")
    backend.set_metadata("/m", ObjectSettings(retention="N+1d"))
    backend.set_metadata("/m", ObjectSettings(hold=True, index=False))
    info = backend.stat("/m")
    assert isinstance(info, ObjectInfo)
    assert info.retention > 0 and info.hold and not info.index
    with pytest.raises(BackendError) as both:
        backend.set_metadata("/m", ObjectSettings(retention="N+2d", hold=False))
    assert both.value.status == 400


def test_annotations(backend: HcpBackend) -> None:
    store(backend, "/a", b"x")
    assert backend.list_annotations("/a") == []
    assert backend.get_annotation("/a", "one") is None
    backend.put_annotation("/a", "one", b"<one/>")
    backend.put_annotation("/a", "two", b"")
    assert backend.list_annotations("/a") == ["one", "two"]
    assert backend.get_annotation("/a", "one") == b"<one/>"
    info = backend.stat("/a")
    assert isinstance(info, ObjectInfo) and info.annotations == ("one", "two")
    assert backend.delete_annotation("/a", "one") is True
    assert backend.delete_annotation("/a", "one") is False
    with pytest.raises(BackendError) as missing:
        backend.put_annotation("/nothing", "one", b"x")
    assert missing.value.status == 404


def test_annotation_names_in_both_forms() -> None:
    assert annotation_names("b;12, a;6251") == ("a", "b")
    assert annotation_names("one;two") == ("one", "two")
    assert annotation_names("") == ()


# -- failures ----------------------------------------------------------------------------------


def test_one_node_down_is_avoided(hcp: Emulator, backend: HcpBackend) -> None:
    store(backend, "/before", b"x" * 1000)
    hcp.nodes[0].stop()
    try:
        for number in range(6):
            store(backend, f"/during/{number}", b"y" * 1000)
            assert backend.read("/before", 0, 1000) == b"x" * 1000
        assert len(backend.listdir("/during")) == 6
    finally:
        hcp.nodes[0].start()


def test_no_node_is_a_connection_error() -> None:
    lonely = Emulator(port=0)
    with lonely:
        backend = make_backend(lonely)
        backend.check_access()
    try:
        with pytest.raises(BackendConnectionError) as raised:
            backend.stat("/x")
    finally:
        backend.close()
    assert raised.value.path == "/x"


def test_logs_never_show_the_password(
    hcp: Emulator, backend: HcpBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        store(backend, "/l", b"x")
        backend.listdir("/")
        refused = make_backend(hcp, password="a-secret-password")
        with pytest.raises(BackendError):
            refused.check_access()
        refused.close()
    assert caplog.records
    assert hcp.password not in caplog.text and "a-secret-password" not in caplog.text
