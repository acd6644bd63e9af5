"""A four-node system with its DNS server: names, nodes going down and up, one shared store."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import dns.rcode
import dns.resolver
import pytest

from hcpfs.emulator import Emulator

DEADLINE = 10.0
BASE = "127.0.0.21"
NODES = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"]
REPLICA_NODES = ["127.0.0.25", "127.0.0.26", "127.0.0.27", "127.0.0.28"]


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """Four nodes and a replica of four, one DNS server for both; no thread outlives it."""
    before = set(threading.enumerate())
    with Emulator(nodes=4, address_base=BASE, dns=True, replica=True) as emulator:
        yield emulator
    # The hash pool of the blobs module is shared by the whole process, not the emulator's.
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    left = [name for name in left if not name.startswith("hcp-hash")]
    assert left == []


@pytest.fixture(autouse=True)
def _all_nodes_up(hcp: Emulator) -> Iterator[None]:
    hcp.reset()
    yield
    for system in hcp.systems:
        for node in system.nodes:
            node.start()


def replica_host(hcp: Emulator) -> str:
    assert hcp.replica_host is not None
    return hcp.replica_host


def resolver(hcp: Emulator) -> dns.resolver.Resolver:
    assert hcp.dns_address is not None and hcp.dns_port is not None
    result = dns.resolver.Resolver(configure=False)
    result.nameservers = [hcp.dns_address]
    result.port = hcp.dns_port
    result.cache = None
    result.lifetime = DEADLINE
    return result


def addresses(hcp: Emulator, name: str) -> list[str]:
    answer = resolver(hcp).resolve(name, "A")
    return sorted(record.address for record in answer)


def get(hcp: Emulator, address: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address, hcp.port, timeout=DEADLINE)
    try:
        method = "GET" if body is None else "PUT"
        headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_every_name_of_the_system_resolves_to_the_four_nodes(hcp: Emulator) -> None:
    assert hcp.addresses == NODES
    for name in (hcp.host, "versioned.dev.hcp.example.com", "dev.hcp.example.com",
                 "admin.hcp.example.com", "replication.hcp.example.com"):  # fmt: skip
        assert addresses(hcp, name) == NODES, name


def test_the_replica_has_its_own_names_and_nodes(hcp: Emulator) -> None:
    assert hcp.replica_addresses == REPLICA_NODES
    assert hcp.replica_host == "ns1.dev.hcp-replica.example.com"
    assert addresses(hcp, replica_host(hcp)) == REPLICA_NODES
    assert addresses(hcp, "admin.hcp-replica.example.com") == REPLICA_NODES


@pytest.mark.parametrize(
    "name", ["nope.dev.hcp.example.com", "other.hcp.example.com", "ns1.dev.example.org"]
)
def test_unknown_names_are_nxdomain(hcp: Emulator, name: str) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(hcp).resolve(name, "A")


def test_answers_have_a_short_ttl(hcp: Emulator) -> None:
    answer = resolver(hcp).resolve(hcp.host, "A")
    assert answer.rrset is not None
    assert answer.response.rcode() == dns.rcode.NOERROR
    assert 0 < answer.rrset.ttl <= 5


def test_a_node_taken_down_leaves_dns_and_refuses_connections(hcp: Emulator) -> None:
    down = hcp.take_down(1)
    assert down.address == NODES[1] and not down.running
    assert addresses(hcp, hcp.host) == [NODES[0], NODES[2], NODES[3]]
    conn = http.client.HTTPConnection(NODES[1], hcp.port, timeout=DEADLINE)
    with pytest.raises(ConnectionRefusedError):
        conn.connect()
    assert get(hcp, NODES[2], "/rest/")[0] == 200
    assert addresses(hcp, replica_host(hcp)) == REPLICA_NODES  # the replica is not affected

    hcp.bring_up(1)
    assert addresses(hcp, hcp.host) == NODES
    assert get(hcp, NODES[1], "/rest/")[0] == 200


def test_a_system_with_every_node_down_has_names_but_no_addresses(hcp: Emulator) -> None:
    for index in range(4):
        hcp.take_down(index, replica=True)
    with pytest.raises(dns.resolver.NoAnswer):
        resolver(hcp).resolve(replica_host(hcp), "A")
    assert addresses(hcp, hcp.host) == NODES


def test_every_node_serves_the_same_store(hcp: Emulator) -> None:
    assert get(hcp, NODES[0], "/rest/shared.txt", b"written on node 1")[0] == 201
    for address in NODES[1:]:
        assert get(hcp, address, "/rest/shared.txt") == (200, b"written on node 1")
    assert get(hcp, NODES[3], "/rest/shared.txt", b"again") == (409, b"")


def test_each_node_counts_the_requests_it_answered(hcp: Emulator) -> None:
    before = [node.requests for node in hcp.nodes]
    for _ in range(3):
        get(hcp, NODES[2], "/rest/")
    get(hcp, NODES[0], "/rest/")
    after = [node.requests for node in hcp.nodes]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 0, 3, 0]


def test_real_headers_do_not_reveal_the_node(hcp: Emulator) -> None:
    conn = http.client.HTTPConnection(NODES[3], hcp.port, timeout=DEADLINE)
    try:
        conn.request("GET", "/rest/", headers={"Host": hcp.host, "Authorization": hcp.auth_header})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.getheader("X-HCP-ServicedBySystem") == "hcp.example.com"
    assert not any(NODES[3] in value for _, value in response.getheaders())
