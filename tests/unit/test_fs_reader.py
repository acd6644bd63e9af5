"""Reads, docs/SEMANTICS.md §8.6: ranged GETs, read-ahead, parallel parts, If-Match."""

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hcpfs.fs.backend import BackendError
from hcpfs.fs.memory_backend import MemoryBackend
from hcpfs.fs.reader import ObjectReader, ReadAhead

KIB = 1024
DATA = bytes(range(256)) * 4096  # 1 MiB


class RecordingBackend(MemoryBackend):
    """Records every ranged GET and the highest number running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[int, int]] = []
        self.running = 0
        self.most_running = 0
        self.gate = threading.Event()
        self.gate.set()
        self._count_lock = threading.Lock()

    def read(self, path: str, offset: int, length: int, if_match: str | None = None) -> bytes:
        with self._count_lock:
            self.ranges.append((offset, length))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.gate.wait(5)
            return super().read(path, offset, length, if_match)
        finally:
            with self._count_lock:
                self.running -= 1


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(4)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def setup(pool: ThreadPoolExecutor, data: bytes = DATA) -> tuple[RecordingBackend, ObjectReader]:
    backend = RecordingBackend()
    info = backend.store("/f", io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())
    reader = ObjectReader(
        backend,
        "/f",
        info.size,
        info.etag,
        pool=pool,
        readahead=ReadAhead(minimum=16 * KIB, maximum=256 * KIB, part_size=64 * KIB),
    )
    return backend, reader


def test_sequential_reads_return_the_data_with_few_large_requests(
    pool: ThreadPoolExecutor,
) -> None:
    backend, reader = setup(pool)
    chunks = [reader.read(offset, 4 * KIB) for offset in range(0, len(DATA), 4 * KIB)]
    assert b"".join(chunks) == DATA
    assert reader.read(len(DATA), 4 * KIB) == b""
    # 256 reads of 4 KiB; read-ahead turns them into a few dozen requests at most.
    assert len(backend.ranges) < 40
    assert max(length for _, length in backend.ranges) == 64 * KIB
    reader.close()


def test_a_read_within_one_part_is_a_view_of_it_and_one_across_parts_is_joined(
    pool: ThreadPoolExecutor,
) -> None:
    _, reader = setup(pool)
    first = reader.read(0, 4 * KIB)
    inside = reader.read(4 * KIB, 8 * KIB)
    assert isinstance(inside, memoryview)  # no copy of the part's bytes
    assert (first, inside) == (DATA[: 4 * KIB], DATA[4 * KIB : 12 * KIB])
    across = reader.read(12 * KIB, 64 * KIB)
    assert isinstance(across, bytes)
    assert across == DATA[12 * KIB : 76 * KIB]
    reader.close()


def test_window_grows_then_parts_are_fetched_in_parallel(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    offset = 0
    for _ in range(6):  # grow the window to its maximum
        reader.read(offset, 4 * KIB)
        offset += 4 * KIB
    backend.gate.clear()
    result: dict[str, bytes] = {}
    worker = threading.Thread(target=lambda: result.update(data=reader.read(offset, 200 * KIB)))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while backend.running < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert backend.running >= 2  # several parts requested at once
    finally:
        backend.gate.set()
        worker.join(5)
    assert result["data"] == DATA[offset : offset + 200 * KIB]
    reader.close()


def test_random_reads_fetch_only_what_is_asked(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    assert reader.read(500_000, 100) == DATA[500_000:500_100]
    assert reader.read(10_000, 100) == DATA[10_000:10_100]
    assert backend.ranges == [(500_000, 100), (10_000, 100)]
    reader.close()


def test_large_random_read_is_split_into_parts(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    assert reader.read(100, 200 * KIB) == DATA[100 : 100 + 200 * KIB]
    assert [length for _, length in backend.ranges] == [64 * KIB, 64 * KIB, 64 * KIB, 8 * KIB]
    reader.close()


def test_read_at_end_and_past_end(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool, b"short")
    assert reader.read(3, 100) == b"rt"
    assert reader.read(5, 100) == b""
    assert reader.read(0, 0) == b""
    assert all(offset < 5 for offset, _ in backend.ranges)
    reader.close()


def test_changed_object_gives_412_not_mixed_data(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    reader.read(0, 4 * KIB)
    backend.delete("/f")
    backend.put_object("/f", b"x" * len(DATA))
    with pytest.raises(BackendError) as caught:
        reader.read(900_000, 4 * KIB)
    assert caught.value.status == 412
    reader.close()


def test_empty_object_sends_no_request(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool, b"")
    assert reader.read(0, 4096) == b""
    assert backend.ranges == []


def test_reads_arriving_out_of_order_fetch_each_byte_once(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    offsets = list(range(0, len(DATA), 4 * KIB))
    for index in range(0, len(offsets) - 1, 2):  # the kernel's threads swap neighbours
        offsets[index], offsets[index + 1] = offsets[index + 1], offsets[index]
    for offset in offsets:
        assert reader.read(offset, 4 * KIB) == DATA[offset : offset + 4 * KIB]
    fetched = sum(length for _, length in backend.ranges)
    assert fetched <= len(DATA) + 8 * KIB
    reader.close()


def test_a_read_behind_the_stream_does_not_restart_it(pool: ThreadPoolExecutor) -> None:
    backend, reader = setup(pool)
    for offset in range(0, 640 * KIB, 4 * KIB):
        reader.read(offset, 4 * KIB)
    before = len(backend.ranges)
    assert reader.read(0, 100) == DATA[:100]  # e.g. a header read again
    assert backend.ranges[before:] == [(0, 100)]
    for offset in range(640 * KIB, 896 * KIB, 4 * KIB):
        assert reader.read(offset, 4 * KIB) == DATA[offset : offset + 4 * KIB]
    fetched = sum(length for _, length in backend.ranges)
    assert fetched <= 896 * KIB + 256 * KIB + 64 * KIB + 100  # read-ahead, one part, header
    reader.close()
