"""Directory listings through the filesystem's backend against the emulator: small ones with a
length, large ones chunked and parsed as they arrive, and the directory described by the
listing itself."""

from __future__ import annotations

import errno
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcpfs.emulator import Emulator
from hcpfs.fs.backend import BackendConnectionError, BackendError, DirInfo, ObjectInfo
from hcpfs.fs.core import Filesystem
from hcpfs.fs.errors import FsError
from hcpfs.fs.hcpbackend import HcpBackend, Listing
from hcpfs.fs.options import Options
from hcpfs.sdk import NativeAuthorization, Target

LARGE = 300  # well past the emulator's threshold for a chunked listing


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """A one-node emulator for the whole module (reset before each test by the conftest)."""
    with Emulator(nodes=1, port=0) as emulator:
        yield emulator


@pytest.fixture
def backend(hcp: Emulator) -> Iterator[HcpBackend]:
    auth = NativeAuthorization(hcp.user, hcp.password)
    target = Target(hcp.host, auth, port=hcp.port, lookup=lambda name: hcp.addresses)
    made = HcpBackend(target, timeout=10.0, retries=0)
    yield made
    made.close()


@pytest.fixture
def filesystem(backend: HcpBackend, tmp_path: Path) -> Iterator[Filesystem]:
    made = Filesystem(backend, Options(staging_dir=tmp_path / "staging"))
    yield made
    made.close()


def store(backend: HcpBackend, path: str, data: bytes) -> ObjectInfo:
    digest = hashlib.sha256(data).hexdigest()
    return backend.store(path, io.BytesIO(data), len(data), digest)


def fill(backend: HcpBackend, directory: str) -> None:
    """Store :data:`LARGE` small objects named ``f000``, ``f001`` ... in ``directory``."""
    for number in range(LARGE):
        store(backend, f"{directory}/f{number:03}", b"x")


def test_a_large_listing_gives_every_entry_as_head_describes_it(backend: HcpBackend) -> None:
    names = [f"n{number:04}" for number in range(LARGE)]
    for name in names:
        store(backend, f"/big/{name}", name.encode())
    backend.mkdir("/big/sub")
    listed = backend.listdir("/big")
    assert isinstance(listed, Listing)
    assert [entry.name for entry in listed] == [*names, "sub"]
    for entry in (listed[0], listed[LARGE // 2], listed[LARGE - 1]):
        assert entry == backend.stat(entry.path)
    assert listed[-1] == DirInfo("/big/sub", listed[-1].change_time)
    assert listed.directory == backend.stat("/big")


def test_a_small_listing_describes_its_directory_too(backend: HcpBackend) -> None:
    store(backend, "/small/one", b"1")
    listed = backend.listdir("/small")
    assert [entry.name for entry in listed] == ["one"]
    assert isinstance(listed, Listing) and listed.directory == backend.stat("/small")
    root = backend.listdir("/")
    assert isinstance(root, Listing) and root.directory.path == "/"
    assert [entry.name for entry in root] == ["small"]


def test_listing_what_is_no_directory_is_refused(backend: HcpBackend) -> None:
    store(backend, "/file", b"x")
    for path in ("/file", "/missing"):
        with pytest.raises(BackendError) as refused:
            backend.listdir(path)
        assert refused.value.status == 404


def test_a_listing_cut_in_the_middle_fails_and_the_backend_goes_on(
    hcp: Emulator, backend: HcpBackend
) -> None:
    fill(backend, "/cut")
    hcp.system.faults.cut_response(after_bytes=50_000)
    with pytest.raises(BackendConnectionError):
        backend.listdir("/cut")
    assert len(backend.listdir("/cut")) == LARGE


def test_readdir_of_an_unknown_directory_sends_the_listing_alone(
    hcp: Emulator, backend: HcpBackend, filesystem: Filesystem
) -> None:
    fill(backend, "/d")
    before = hcp.nodes[0].requests
    listed = filesystem.readdir("/d")
    assert hcp.nodes[0].requests - before == 1  # no HEAD of /d
    assert [name for name, _ in listed] == [".", "..", *(f"f{n:03}" for n in range(LARGE))]
    assert listed[0][1] == filesystem.getattr("/d")
    assert listed[2][1] == filesystem.getattr("/d/f000")
    assert hcp.nodes[0].requests - before == 1  # both answered from the listing
    for path, code in (("/missing", errno.ENOENT), ("/d/f001", errno.ENOTDIR)):
        with pytest.raises(FsError) as refused:
            filesystem.readdir(path)
        assert refused.value.errno == code


def test_a_large_listing_is_handed_over_in_pieces_as_it_is_read(backend: HcpBackend) -> None:
    """§8.2: the entries of each piece read go to ``progress``; together, the whole listing."""
    fill(backend, "/pieces")
    batches: list[list[str]] = []
    listed = backend.listdir("/pieces", lambda batch: batches.append([e.name for e in batch]))
    assert len(batches) > 1
    assert [name for batch in batches for name in batch] == [entry.name for entry in listed]
    assert len(listed) == LARGE


def test_a_listing_cut_in_the_middle_reaches_the_reader_of_the_directory(
    hcp: Emulator, backend: HcpBackend, filesystem: Filesystem
) -> None:
    """§8.2: entries read before the cut are handed out, then the failure."""
    fill(backend, "/cut")
    filesystem.getattr("/cut")
    hcp.system.faults.cut_response(after_bytes=120_000)
    stream = filesystem.list_directory("/cut")
    with pytest.raises(FsError) as failed:
        stream.complete()
    assert failed.value.errno == errno.EIO
    assert 2 < len(stream.take(0)) < LARGE + 2
    hcp.system.faults.clear()
    assert len(filesystem.readdir("/cut")) == LARGE + 2
