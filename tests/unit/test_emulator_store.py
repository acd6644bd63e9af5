"""The namespace store without sockets (hcp-protocol §4-§8, §10.2)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcpfs.emulator.config import RetentionClass, SystemConfig
from hcpfs.emulator.errors import HcpError
from hcpfs.emulator.model import (
    Clock,
    DirState,
    MetadataChange,
    ObjectOptions,
    Version,
    split_path,
)
from hcpfs.emulator.store import NamespaceStore, Store
from hcpfs.emulator.xmlcheck import XmlChecker

OPTS = ObjectOptions(owner="dev")


@pytest.fixture
def config() -> SystemConfig:
    return SystemConfig.default()


@pytest.fixture
def store(config: SystemConfig) -> Iterator[Store]:
    result = Store(config)
    yield result
    result.close()


@pytest.fixture
def ns1(store: Store) -> NamespaceStore:
    found = store.namespace("dev", "ns1")
    assert found is not None
    return found


@pytest.fixture
def versioned(store: Store) -> NamespaceStore:
    found = store.namespace("DEV", "Versioned")
    assert found is not None
    return found


def put(ns: NamespaceStore, path: str, data: bytes = b"data", **options: object) -> Version:
    return ns.put_object(path, [data], ObjectOptions(owner="dev", **options))  # type: ignore[arg-type]


def status_of(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(HcpError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.status


def test_put_computes_etag_hash_size_and_type(ns1: NamespaceStore) -> None:
    version = ns1.put_object("a/b/report.txt", [b"hello ", b"world"], OPTS)
    assert version.etag == hashlib.md5(b"hello world").hexdigest()
    assert version.hash == hashlib.sha256(b"hello world").hexdigest().upper()
    assert (version.size, version.content_type, version.owner) == (11, "text/plain", "dev")
    assert ns1.current("a/b/report.txt").blob is not None
    assert ns1.current("a/b/report.txt").blob.read() == b"hello world"  # type: ignore[union-attr]


@pytest.mark.parametrize("announced", [None, 10, 3 * 1024 * 1024, 5 * 1024 * 1024])
def test_bodies_larger_or_smaller_than_announced(
    ns1: NamespaceStore, announced: int | None
) -> None:
    pieces = [b"a" * (2 * 1024 * 1024), b"b" * (2 * 1024 * 1024), b"c"]
    data = b"".join(pieces)
    version = ns1.put_object("big", pieces, OPTS, length=announced)
    assert version.blob is not None and version.blob.read() == data
    assert version.etag == hashlib.md5(data).hexdigest()
    assert b"".join(version.blob.chunks(4 * 1024 * 1024 - 1)) == b"bc"


def test_parents_are_created_and_listed(ns1: NamespaceStore) -> None:
    put(ns1, "a/b/c")
    put(ns1, "a/x")
    _, children = ns1.listing("a", False)
    assert [(name, type(info).__name__) for name, info in children] == [
        ("b", "DirState"),
        ("x", "Version"),
    ]
    _, root = ns1.listing("", False)
    assert [name for name, _ in root] == ["a"]


def test_existing_object_without_versioning_is_409(ns1: NamespaceStore) -> None:
    put(ns1, "obj")
    assert status_of(put, ns1, "obj") == 409
    assert ns1.stats.objects == 1


def test_object_and_directory_names_collide(ns1: NamespaceStore) -> None:
    put(ns1, "dir/obj")
    assert status_of(put, ns1, "dir") == 409
    assert status_of(put, ns1, "dir/obj/below") == 409
    assert status_of(ns1.make_directory, "dir") == 409
    assert status_of(ns1.make_directory, "dir/obj") == 409


def test_reserved_and_invalid_names() -> None:
    assert split_path("/a//b/") == "a/b"
    with pytest.raises(HcpError):
        split_path("a/../b")
    with pytest.raises(HcpError):
        split_path(".directory-metadata/x", writing=True)
    assert split_path(".directory-metadata") == ".directory-metadata"
    with pytest.raises(HcpError) as caught:
        split_path("x" * 4096)
    assert caught.value.status == 414


def test_versions_get_increasing_ids_and_inherit_metadata(versioned: NamespaceStore) -> None:
    first = put(versioned, "doc", b"1", shred=True, index=False)
    second = put(versioned, "doc", b"22")
    third = put(versioned, "doc", b"333", index=True)
    assert first.id < second.id < third.id
    assert (second.shred, second.index) == (True, False)
    assert (third.shred, third.index) == (True, True)
    assert [v.size for v in versioned.versions("doc")] == [1, 2, 3]
    assert versioned.version("doc", first.id).blob.read() == b"1"  # type: ignore[union-attr]
    assert versioned.stats.objects == 3
    assert versioned.stats.bytes == 6


def test_delete_with_versioning_leaves_a_marker(versioned: NamespaceStore) -> None:
    kept = put(versioned, "d/doc")
    versioned.delete("d/doc")
    assert status_of(versioned.current, "d/doc") == 404
    marker = versioned.versions("d/doc")[-1]
    assert marker.deleted and marker.id > kept.id
    assert status_of(versioned.delete, "d/doc") == 404
    _, visible = versioned.listing("d", False)
    _, everything = versioned.listing("d", True)
    assert visible == []
    assert [name for name, _ in everything] == ["doc"]
    assert versioned.stats.objects == 1  # old versions count, markers do not
    revived = put(versioned, "d/doc", b"again")
    assert versioned.current("d/doc") == revived


def test_purge_removes_every_version(versioned: NamespaceStore) -> None:
    put(versioned, "doc")
    put(versioned, "doc")
    versioned.delete("doc")
    versioned.delete("doc", purge=True)
    assert versioned.find("doc") is None
    assert (versioned.stats.objects, versioned.stats.bytes) == (0, 0)
    assert status_of(versioned.delete, "doc", purge=True) == 404


def test_delete_without_versioning_removes(ns1: NamespaceStore) -> None:
    put(ns1, "doc")
    ns1.delete("doc")
    assert ns1.find("doc") is None
    assert status_of(ns1.delete, "doc") == 404
    put(ns1, "doc")


def test_directories(ns1: NamespaceStore) -> None:
    ns1.make_directory("empty/sub")
    assert isinstance(ns1.listing("empty", False)[0], DirState)
    assert status_of(ns1.delete, "empty") == 403  # not empty: holds "sub"
    ns1.delete("empty/sub")
    ns1.delete("empty")
    assert ns1.find("empty") is None
    assert status_of(ns1.delete, "") == 403
    assert status_of(ns1.listing, "missing", False) == 404


def test_deleted_directory_with_versioning(versioned: NamespaceStore) -> None:
    put(versioned, "dir/doc")
    versioned.delete("dir/doc")
    versioned.delete("dir")
    assert status_of(versioned.listing, "dir", False) == 404
    state, children = versioned.listing("dir", True)
    assert state.deleted and [name for name, _ in children] == ["doc"]
    _, root = versioned.listing("", True)
    assert [(n, info.deleted) for n, info in root] == [("dir", True)]
    put(versioned, "dir/new")
    assert not versioned.listing("dir", False)[0].deleted


def test_directory_change_times_propagate(ns1: NamespaceStore) -> None:
    put(ns1, "a/b/c/one")
    before_a = ns1.listing("a", False)[0]
    before_c = ns1.listing("a/b/c", False)[0]
    added = put(ns1, "a/b/c/two")
    after_a = ns1.listing("a", False)[0]
    assert after_a.latest == added.change > before_a.latest
    assert after_a.created == before_a.created
    ns1.delete("a/b/c/one")
    after_c = ns1.listing("a/b/c", False)[0]
    assert after_c.latest > added.change > before_c.latest


def test_retention_blocks_delete_and_new_versions(versioned: NamespaceStore) -> None:
    put(versioned, "doc", retention="N+1d")
    assert status_of(versioned.delete, "doc") == 403
    assert status_of(put, versioned, "doc") == 403
    versioned.delete("doc", privileged=True)
    assert versioned.find("doc") is not None
    assert status_of(versioned.delete, "doc", purge=True) == 403


def test_privileged_delete_is_refused_in_compliance_mode(config: SystemConfig) -> None:
    config.tenants[0].namespaces[0].retention_mode = "compliance"
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc", retention="-1")
    assert status_of(ns.delete, "doc", privileged=True) == 403


def test_hold_blocks_even_privileged_delete(ns1: NamespaceStore) -> None:
    put(ns1, "doc", hold=True)
    assert status_of(ns1.delete, "doc", privileged=True) == 403
    ns1.set_metadata("doc", MetadataChange(hold=False))
    ns1.delete("doc")


def test_retention_expires_with_the_clock() -> None:
    clock = Clock()
    ns = Store(SystemConfig.default(), clock=clock).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc", retention="N+1h")
    assert status_of(ns.delete, "doc") == 403
    clock.shift(3601)
    ns.delete("doc")


def test_namespace_default_retention_and_past_dates(config: SystemConfig) -> None:
    ns_config = config.tenants[0].namespaces[0]
    ns_config.retention_default = "C+forever"
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    version = put(ns, "a")
    assert (version.retention.klass, ns.effective_retention(version)) == ("forever", -1)
    ns_config.retention_default = "2001-01-01T00:00:00+0000"
    assert put(ns, "b").retention.value == 0  # a default date in the past means 0


def test_metadata_rules(ns1: NamespaceStore) -> None:
    put(ns1, "doc", shred=True)
    assert status_of(ns1.set_metadata, "doc", MetadataChange(shred=False)) == 400
    both = MetadataChange(retention="N+1d", hold=True)
    assert status_of(ns1.set_metadata, "doc", both) == 400
    changed = ns1.set_metadata("doc", MetadataChange(retention="N+1d", index=False))
    assert changed.retention.value > 0 and not changed.index
    shorter = MetadataChange(retention="N+1h")
    assert status_of(ns1.set_metadata, "doc", shorter) == 400
    ns1.set_metadata("doc", MetadataChange(hold=True))
    assert status_of(ns1.set_metadata, "doc", MetadataChange(retention="N+2d")) == 400
    assert status_of(ns1.set_metadata, "doc", MetadataChange(index=True)) == 400
    ns1.set_metadata("doc", MetadataChange(hold=False))
    assert ns1.current("doc").change > changed.change
    assert status_of(ns1.set_metadata, "missing", MetadataChange(index=True)) == 404
    ns1.make_directory("dir")
    assert status_of(ns1.set_metadata, "dir", MetadataChange(index=True)) == 400


def test_labeled_holds(ns1: NamespaceStore) -> None:
    put(ns1, "doc")
    ns1.set_metadata("doc", MetadataChange(labels=(("L1", True), ("L2", True))))
    assert ns1.current("doc").labels == ("L1", "L2")
    assert status_of(ns1.delete, "doc") == 403
    ns1.set_metadata("doc", MetadataChange(labels=(("L1", False),)))
    assert status_of(ns1.delete, "doc") == 403
    ns1.set_metadata("doc", MetadataChange(labels=(("L2", False),)))
    ns1.delete("doc")
    put(ns1, "other")
    too_long = MetadataChange(labels=(("x" * 65, True),))
    assert status_of(ns1.set_metadata, "other", too_long) == 400


def test_owner_change_applies_to_all_versions(versioned: NamespaceStore) -> None:
    put(versioned, "doc")
    put(versioned, "doc")
    versioned.set_metadata("doc", MetadataChange(owner="other"))
    assert [v.owner for v in versioned.versions("doc")] == ["other", "other"]


def test_annotations(ns1: NamespaceStore) -> None:
    put(ns1, "doc")
    ns1.put_annotation("doc", "default", [b"<a/>"])
    version = ns1.put_annotation("doc", "second", [b"x"])
    assert sorted(version.annotations) == ["default", "second"]
    assert version.annotations["default"].blob.read() == b"<a/>"
    assert ns1.stats.annotated == 1 and ns1.stats.annotation_bytes == 5
    assert ns1.delete_annotation("doc", "second")
    assert not ns1.delete_annotation("doc", "second")
    for name in ("", "x" * 33, "...", "bad/name"):
        assert status_of(ns1.put_annotation, "doc", name, [b""]) == 400


def test_eleventh_annotation_is_refused(ns1: NamespaceStore) -> None:
    put(ns1, "doc")
    for n in range(10):
        ns1.put_annotation("doc", f"a{n}", [b""])
    assert status_of(ns1.put_annotation, "doc", "a10", [b""]) == 400
    ns1.put_annotation("doc", "a3", [b"replaced"])


@pytest.mark.parametrize(
    ("policy", "add", "replace", "delete"),
    [("all", True, True, True), ("add", True, False, False), ("none", False, False, False)],
)
def test_annotation_policy_under_retention(
    config: SystemConfig, policy: str, add: bool, replace: bool, delete: bool
) -> None:
    config.tenants[0].namespaces[0].annotations_under_retention = policy
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc")
    ns.put_annotation("doc", "old", [b"1"])
    ns.set_metadata("doc", MetadataChange(retention="-1"))
    outcomes = []
    for call, args in [
        (ns.put_annotation, ("doc", "new", [b"2"])),
        (ns.put_annotation, ("doc", "old", [b"3"])),
        (ns.delete_annotation, ("doc", "old")),
    ]:
        try:
            call(*args)  # type: ignore[operator]
            outcomes.append(True)
        except HcpError as exc:
            assert exc.status == 403
            outcomes.append(False)
    assert outcomes == [add, replace, delete]


def test_xml_checking(config: SystemConfig) -> None:
    config.tenants[0].namespaces[0].xml_checking = True
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc")
    assert status_of(ns.put_annotation, "doc", "meta", [b"<a><b></a>"]) == 400
    version = ns.put_annotation("doc", "meta", [b"<a>", b"<b/></a>"])
    assert version.annotations["meta"].xml
    big = b"<a>" + b"x" * (1024 * 1024) + b"</a>"
    assert status_of(ns.put_annotation, "doc", "meta", [big]) == 413
    ns.put_annotation("doc", "default", [big])


def test_whole_object_with_bad_xml_leaves_an_empty_object(config: SystemConfig) -> None:
    config.tenants[0].namespaces[0].xml_checking = True
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    with pytest.raises(HcpError) as caught:
        ns.put_object("doc", [b"data"], OPTS, annotation=("default", [b"<not xml"]))
    assert caught.value.status == 400
    stored = ns.current("doc")
    assert stored.size == 0 and not stored.annotations


def test_xml_checker_limits() -> None:
    deep = XmlChecker()
    deep.feed(b"<a>" * 101 + b"</a>" * 101)
    with pytest.raises(HcpError, match="deeper"):
        deep.close()
    many = XmlChecker()
    many.feed(b"<r>" + b"<e/>" * 10_000 + b"</r>")
    with pytest.raises(HcpError, match="elements"):
        many.close()
    fine = XmlChecker()
    fine.feed(b"<r>" + b"<e/>" * 9_999 + b"</r>")
    fine.close()


def test_quota_and_size_limits(config: SystemConfig) -> None:
    config.tenants[0].namespaces[0].hard_quota_bytes = 10
    config.max_object_size = 8
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "a", b"12345678")
    assert status_of(put, ns, "b", b"123") == 413
    assert status_of(put, ns, "c", b"123456789") == 413
    assert ns.stats.bytes == 8


def test_condition_runs_against_the_current_version(versioned: NamespaceStore) -> None:
    first = put(versioned, "doc")
    seen: list[Version | None] = []

    def condition(current: Version | None) -> None:
        seen.append(current)
        raise HcpError(412, "no")

    with pytest.raises(HcpError):
        versioned.put_object("doc", [b"x"], OPTS, condition=condition)
    with pytest.raises(HcpError):
        versioned.put_object("new", [b"x"], OPTS, condition=condition)
    assert seen == [first, None]
    assert len(versioned.versions("doc")) == 1


def test_copy_between_namespaces_rehashes_and_keeps_annotations(store: Store) -> None:
    ns1, other = store.namespace("dev", "ns1"), store.namespace("dev", "versioned")
    assert ns1 is not None and other is not None
    other.config.hash_scheme = "MD5"
    source = put(ns1, "src", b"payload")
    ns1.put_annotation("src", "default", [b"<x/>"])
    source = ns1.current("src")
    copied = other.copy_object("dst", source, "SHA-256", OPTS, with_annotations=True)
    assert copied.hash == hashlib.md5(b"payload").hexdigest().upper()
    assert copied.annotations["default"].blob.read() == b"<x/>"
    bare = other.copy_object("dst2", source, "SHA-256", OPTS, with_annotations=False)
    assert not bare.annotations
    ns1.delete("src")
    assert other.current("dst").blob.read() == b"payload"  # type: ignore[union-attr]


def test_concurrent_writers_without_versioning_get_one_winner(ns1: NamespaceStore) -> None:
    results: list[int] = []
    gate = threading.Barrier(8)

    def writer() -> None:
        gate.wait(5)
        try:
            put(ns1, "contested")
            results.append(201)
        except HcpError as exc:
            results.append(exc.status)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [201] + [409] * 7


def test_reset_forgets_content(store: Store, ns1: NamespaceStore, config: SystemConfig) -> None:
    put(ns1, "doc")
    store.reset(config)
    fresh = store.namespace("dev", "ns1")
    assert fresh is not None and fresh.find("doc") is None and fresh.stats.objects == 0


# ---- data directory --------------------------------------------------------------------------


def test_data_directory_survives_a_restart(tmp_path: Path, config: SystemConfig) -> None:
    first = Store(config, tmp_path)
    ns, vs = first.namespace("dev", "ns1"), first.namespace("dev", "versioned")
    assert ns is not None and vs is not None
    put(ns, "keep/a.txt", b"alpha", retention="N+1d")
    ns.put_annotation("keep/a.txt", "default", [b"<a/>"])
    put(ns, "gone", b"x")
    ns.delete("gone")
    put(vs, "v", b"1")
    put(vs, "v", b"22")
    vs.delete("v")
    ns.make_directory("empty")
    first.close()

    second = Store(config, tmp_path)
    ns, vs = second.namespace("dev", "ns1"), second.namespace("dev", "versioned")
    assert ns is not None and vs is not None
    kept = ns.current("keep/a.txt")
    assert kept.blob is not None and kept.blob.read() == b"alpha"
    assert kept.annotations["default"].blob.read() == b"<a/>"
    assert ns.under_retention(kept)
    assert ns.find("gone") is None
    assert [(v.size, v.deleted) for v in vs.versions("v")] == [(1, False), (2, False), (0, True)]
    assert isinstance(ns.find("empty"), object) and ns.listing("empty", False)
    assert (ns.stats.objects, vs.stats.objects) == (1, 2)
    newer = put(vs, "v", b"333")
    assert newer.id > vs.versions("v")[-2].id
    second.close()


def test_removed_blobs_leave_no_files(tmp_path: Path, config: SystemConfig) -> None:
    store = Store(config, tmp_path)
    ns = store.namespace("dev", "ns1")
    assert ns is not None
    put(ns, "a", b"x" * 100, shred=True)
    ns.put_annotation("a", "default", [b"y"])
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 2
    ns.delete("a")
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    store.close()


def test_ten_thousand_objects_stay_fast_and_the_journal_is_compacted(
    tmp_path: Path, config: SystemConfig
) -> None:
    store = Store(config, tmp_path)
    ns = store.namespace("dev", "ns1")
    assert ns is not None
    started = time.perf_counter()
    for n in range(10_000):
        put(ns, f"d{n % 100}/o{n}", b"x")
    first_half = time.perf_counter() - started
    for n in range(10_000):
        if (n // 100) % 2:
            ns.delete(f"d{n % 100}/o{n}")
    store.close()
    assert first_half < 30
    lines_before = len((tmp_path / "journal.jsonl").read_text().splitlines())
    reopened = Store(config, tmp_path)
    ns = reopened.namespace("dev", "ns1")
    assert ns is not None and ns.stats.objects == 5_000
    assert len(ns.listing("d0", False)[1]) == 50
    lines_after = len((tmp_path / "journal.jsonl").read_text().splitlines())
    assert lines_after < lines_before / 2
    reopened.close()


def test_write_cost_does_not_grow_with_the_namespace(config: SystemConfig) -> None:
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None

    def batch(offset: int) -> float:
        started = time.perf_counter()
        for n in range(2_000):
            put(ns, f"flat/o{offset + n}", b"x")
        return time.perf_counter() - started

    early = batch(0)
    for n in range(20_000):
        put(ns, f"fill/o{n}", b"x")
    late = batch(10_000)
    assert late < early * 3 + 0.5


def test_unknown_namespace_in_data_dir_is_skipped(tmp_path: Path, config: SystemConfig) -> None:
    store = Store(config, tmp_path)
    ns = store.namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc")
    store.close()
    config.tenants[0].namespaces.pop(0)
    config.tenants[0].users[0].permissions.pop("ns1")
    reopened = Store(config, tmp_path)
    assert reopened.namespace("dev", "ns1") is None
    reopened.close()


def test_classes_are_read_at_use(config: SystemConfig) -> None:
    ns_config = config.tenants[0].namespaces[0]
    ns = Store(config).namespace("dev", "ns1")
    assert ns is not None
    put(ns, "doc", retention="C+short")
    assert ns.under_retention(ns.current("doc"))
    ns_config.retention_classes = [RetentionClass("short", "0")]
    ns.delete("doc")
