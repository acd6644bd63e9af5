"""Name resolution and the round robin over node addresses, with fake DNS and a fake clock."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import dns.resolver
import pytest

from hcpfs.sdk import ips

FQDN = "ns1.t1.hcp.example.com"
NODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Dns:
    """Answers with whatever list the test sets; counts the lookups."""

    def __init__(self, answer: Sequence[str]) -> None:
        self.answer: Sequence[str] | Exception = list(answer)
        self.lookups = 0

    def __call__(self, name: str) -> Sequence[str]:
        self.lookups += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _circle(answer: Sequence[str] = NODES) -> tuple[ips.Circle, Dns, Clock]:
    dns_fake, clock = Dns(answer), Clock()
    circle = ips.Circle(FQDN, refresh=60.0, avoid=30.0, lookup=dns_fake, clock=clock)
    return circle, dns_fake, clock


def test_round_robin_over_all_nodes() -> None:
    circle, _, _ = _circle()
    picked = [circle.pick() for _ in range(8)]
    assert picked == NODES + NODES


def test_a_node_marked_down_is_skipped_until_its_time_is_up() -> None:
    circle, _, clock = _circle()
    circle.mark_down("127.0.0.3")
    picked = {circle.pick() for _ in range(12)}
    assert picked == set(NODES) - {"127.0.0.3"}
    assert circle.is_down("127.0.0.3")
    clock.now += 30.5
    assert not circle.is_down("127.0.0.3")
    assert "127.0.0.3" in {circle.pick() for _ in range(4)}


def test_every_node_down_still_gives_the_one_down_longest() -> None:
    circle, _, clock = _circle()
    for address in NODES:
        circle.mark_down(address)
        clock.now += 1.0
    assert circle.healthy() == []
    assert circle.pick() == NODES[0]
    assert circle.pick(exclude={NODES[0]}) == NODES[1]


def test_exclude_and_exhaustion() -> None:
    circle, _, _ = _circle()
    assert circle.pick(exclude=set(NODES[:3])) == NODES[3]
    assert circle.pick(exclude=set(NODES)) is None


def test_round_robin_continues_after_the_node_it_picked() -> None:
    circle, _, _ = _circle()
    circle.mark_down(NODES[0])
    assert [circle.pick() for _ in range(4)] == [NODES[1], NODES[2], NODES[3], NODES[1]]


def test_addresses_are_looked_up_again_after_the_refresh_period() -> None:
    circle, dns_fake, clock = _circle()
    assert dns_fake.lookups == 1
    circle.pick()
    assert dns_fake.lookups == 1
    dns_fake.answer = ["127.0.0.9", "127.0.0.2"]
    clock.now += 61.0
    circle.pick()
    assert dns_fake.lookups == 2
    assert circle.addresses == ["127.0.0.9", "127.0.0.2"]
    assert {circle.pick() for _ in range(4)} == {"127.0.0.9", "127.0.0.2"}


def test_a_node_failure_brings_the_refresh_forward_and_keeps_the_mark() -> None:
    circle, dns_fake, _ = _circle()
    circle.mark_down("127.0.0.2")
    circle.pick()
    assert dns_fake.lookups == 2
    assert circle.is_down("127.0.0.2")


def test_a_failed_refresh_keeps_the_old_addresses(caplog: pytest.LogCaptureFixture) -> None:
    circle, dns_fake, clock = _circle()
    dns_fake.answer = ips.IpsError("SERVFAIL")
    clock.now += 61.0
    assert circle.pick() in NODES
    assert circle.addresses == NODES
    assert "SERVFAIL" in caplog.text


def test_duplicates_are_dropped_and_nothing_found_is_an_error() -> None:
    circle, _, _ = _circle(["127.0.0.2", "127.0.0.2", "127.0.0.3"])
    assert circle.addresses == ["127.0.0.2", "127.0.0.3"]
    with pytest.raises(ips.IpsError):
        _circle([])


def test_mark_down_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    circle, _, _ = _circle()
    circle.mark_down("127.0.0.4")
    (record,) = [r for r in caplog.records if r.name == "hcpfs.sdk.ips"]
    assert record.levelname == "WARNING"
    assert "127.0.0.4" in record.getMessage()


def test_query_returns_an_address_as_it_is() -> None:
    answer = ips.query("127.0.0.7")
    assert (answer.ips, answer.raised, answer.fqdn) == (["127.0.0.7"], "", "127.0.0.7")


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_server(server: str, expected: tuple[str, int]) -> None:
    assert ips.parse_server(server) == expected


class _Rdata:
    def __init__(self, address: str) -> None:
        self.address = address


class _Answer:
    def __init__(self, addresses: list[str]) -> None:
        self.rrset = [_Rdata(a) for a in addresses] if addresses else None


def test_query_asks_the_given_server_and_falls_back_to_aaaa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[list[str], int, str, Any]] = []

    def resolve(self: dns.resolver.Resolver, name: str, rdtype: str, **kw: Any) -> _Answer:
        asked.append(([str(n) for n in self.nameservers], self.port, rdtype, kw.get("search")))
        return _Answer([] if rdtype == "A" else ["::2"])

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
    answer = ips.query(FQDN, resolver="127.0.0.1:5353")
    assert answer == ips.Response(FQDN, False, ["::2"], "")
    assert asked == [(["127.0.0.1"], 5353, "A", False), (["127.0.0.1"], 5353, "AAAA", False)]


def test_query_reports_dns_errors_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(self: dns.resolver.Resolver, name: str, rdtype: str, **kw: Any) -> _Answer:
        raise dns.resolver.NXDOMAIN

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
    answer = ips.query(FQDN, resolver="127.0.0.1")
    assert answer.ips == []
    assert answer.raised
    with pytest.raises(ips.IpsError):
        ips.resolve(FQDN, resolver="127.0.0.1")


def test_cache_uses_the_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(host: str, port: object, **kw: Any) -> list[tuple[Any, ...]]:
        assert host == FQDN
        stream = (socket.AF_INET, socket.SOCK_STREAM, 6, "")
        return [
            (*stream, ("127.0.0.2", 0)),
            (*stream, ("127.0.0.3", 0)),
            (*stream, ("127.0.0.2", 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert ips.query(FQDN, cache=True) == ips.Response(FQDN, True, ["127.0.0.2", "127.0.0.3"], "")
