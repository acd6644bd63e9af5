"""Caches of docs/SEMANTICS.md §5: TTLs, invalidation, bounds."""

from hcpfs.fs.backend import DirInfo, ObjectInfo
from hcpfs.fs.cache import ABSENT, LocalAttributeStore, MetadataCache, SeenVersions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **changes: float) -> MetadataCache:
    settings: dict[str, float] = {
        "attr_ttl": 1.0,
        "negative_ttl": 1.0,
        "listing_ttl": 5.0,
        "max_entries": 100,
        "max_listing_entries": 100,
    }
    settings.update(changes)
    return MetadataCache(
        attr_ttl=settings["attr_ttl"],
        negative_ttl=settings["negative_ttl"],
        listing_ttl=settings["listing_ttl"],
        max_entries=int(settings["max_entries"]),
        max_listing_entries=int(settings["max_listing_entries"]),
        timer=clock,
    )


def test_attributes_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = make(clock)
    cache.put(ObjectInfo("/a", 3))
    assert cache.lookup("/a") == ObjectInfo("/a", 3)
    clock.now += 0.9
    assert cache.lookup("/a") == ObjectInfo("/a", 3)
    clock.now += 0.2
    assert cache.lookup("/a") is None


def test_negative_entries_expire_and_are_replaced_by_put() -> None:
    clock = Clock()
    cache = make(clock, negative_ttl=2.0)
    cache.put_absent("/gone")
    assert cache.lookup("/gone") is ABSENT
    cache.put(ObjectInfo("/gone", 1))
    assert cache.lookup("/gone") == ObjectInfo("/gone", 1)
    cache.put_absent("/other")
    clock.now += 2.1
    assert cache.lookup("/other") is None


def test_listing_answers_lookups_of_its_children() -> None:
    clock = Clock()
    cache = make(clock, attr_ttl=0.5)
    cache.put_listing("/d", [ObjectInfo("/d/x", 1), DirInfo("/d/sub")])
    clock.now += 1.0  # attributes expired, listing still fresh
    assert cache.lookup("/d/x") == ObjectInfo("/d/x", 1)
    assert cache.lookup("/d/missing") is ABSENT
    assert cache.lookup("/elsewhere/x") is None
    assert cache.listing("/d") == (ObjectInfo("/d/x", 1), DirInfo("/d/sub"))
    clock.now += 5.0
    assert cache.listing("/d") is None
    assert cache.lookup("/d/missing") is None


def test_invalidate_drops_path_own_listing_and_parent_listing() -> None:
    cache = make(Clock())
    cache.put_listing("/", [DirInfo("/d")])
    cache.put_listing("/d", [ObjectInfo("/d/x", 1)])
    cache.put_absent("/d/y")
    cache.invalidate("/d/y")
    assert cache.lookup("/d/y") is None
    assert cache.listing("/d") is None
    assert cache.listing("/") is not None
    cache.invalidate("/d")
    assert cache.listing("/") is None
    assert cache.lookup("/d") is None


def test_zero_ttl_turns_a_cache_off() -> None:
    cache = make(Clock(), attr_ttl=0, negative_ttl=0, listing_ttl=0)
    cache.put(ObjectInfo("/a", 1))
    cache.put_absent("/b")
    cache.put_listing("/", [ObjectInfo("/a", 1)])
    assert cache.lookup("/a") is None
    assert cache.lookup("/b") is None
    assert cache.listing("/") is None
    assert cache.sizes() == (0, 0, 0)


def test_attribute_cache_is_bounded_whatever_is_put() -> None:
    cache = make(Clock(), max_entries=50)
    for number in range(10_000):
        cache.put(ObjectInfo(f"/f{number}", number))
        cache.put_absent(f"/g{number}")
    attrs, absent, _ = cache.sizes()
    assert attrs == 50
    assert absent == 50
    assert cache.lookup("/f9999") == ObjectInfo("/f9999", 9999)


def test_listing_cache_is_bounded_in_entries() -> None:
    cache = make(Clock(), max_listing_entries=100, max_entries=10)
    for number in range(20):
        cache.put_listing(f"/d{number}", [ObjectInfo(f"/d{number}/{i}", i) for i in range(30)])
    assert cache.sizes()[2] <= 100
    assert cache.listing("/d19") is not None
    assert cache.listing("/d0") is None


def test_listing_larger_than_the_cache_is_not_kept_but_its_entries_are() -> None:
    cache = make(Clock(), max_listing_entries=10)
    cache.put_listing("/big", [ObjectInfo(f"/big/{i}", i) for i in range(11)])
    assert cache.listing("/big") is None
    assert cache.lookup("/big/3") == ObjectInfo("/big/3", 3)


def test_a_listing_replaces_what_was_known_of_its_entries() -> None:
    clock = Clock()
    cache = make(clock, max_entries=1000, max_listing_entries=10)
    cache.put_absent("/big/3")
    cache.put_absent("/big/elsewhere")
    cache.put(ObjectInfo("/big/4", 0))
    cache.put_listing("/big", [ObjectInfo(f"/big/{i}", i) for i in range(20)])
    assert cache.listing("/big") is None  # too large to keep as a listing
    assert cache.lookup("/big/3") == ObjectInfo("/big/3", 3)  # no longer absent
    assert cache.lookup("/big/4") == ObjectInfo("/big/4", 4)  # the newer attributes
    assert cache.lookup("/big/elsewhere") is ABSENT
    assert cache.sizes()[:2] == (20, 1)
    clock.now += 1.1  # every attribute taken from the listing expires at once
    assert cache.lookup("/big/0") is None
    assert cache.lookup("/big/19") is None


def test_a_large_listing_keeps_the_attribute_cache_bounded() -> None:
    cache = make(Clock(), max_entries=50, max_listing_entries=10_000)
    cache.put_listing("/d", [ObjectInfo(f"/d/{i}", i) for i in range(5000)])
    assert cache.sizes()[0] == 50
    assert cache.lookup("/d/0") == ObjectInfo("/d/0", 0)  # from the listing
    assert len(cache.listing("/d") or ()) == 5000


def test_empty_listing_is_cached() -> None:
    cache = make(Clock())
    cache.put_listing("/empty", [])
    assert cache.listing("/empty") == ()
    assert cache.lookup("/empty/x") is ABSENT


def test_clear() -> None:
    cache = make(Clock())
    cache.put(ObjectInfo("/a", 1))
    cache.put_listing("/", [])
    cache.clear()
    assert cache.sizes() == (0, 0, 0)


def test_local_attributes_update_move_forget_and_bound() -> None:
    store = LocalAttributeStore(3)
    store.update("/a", mode=0o700)
    store.update("/a", uid=5, gid=None)
    got = store.get("/a")
    assert got is not None
    assert (got.mode, got.uid, got.gid) == (0o700, 5, None)
    store.move("/a", "/b")
    assert store.get("/a") is None
    assert store.get("/b") == got
    store.forget("/b")
    assert store.get("/b") is None
    for number in range(10):
        store.update(f"/n{number}", mode=0o600)
    assert len(store) == 3


def test_seen_versions_grant_keep_cache_only_for_an_unchanged_object() -> None:
    seen = SeenVersions(10)
    assert not seen.unchanged("/a", "e1", 5)
    assert seen.unchanged("/a", "e1", 5)
    assert not seen.unchanged("/a", "e2", 5)
    assert not seen.unchanged("/a", "e2", 6)
    seen.forget("/a")
    assert not seen.unchanged("/a", "e2", 6)
    assert not seen.unchanged("/n", None, 1)
    assert not seen.unchanged("/n", None, 1)
