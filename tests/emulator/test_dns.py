"""The emulator's DNS server, queried over real UDP and TCP sockets on loopback."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from hcpfs.emulator.dns import DnsServer, zone_resolver

DOMAIN = "hcp.example.com"
NODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
TTL = 7
NAMESPACE_HOST = f"ns1.dev.{DOMAIN}"


class Zone:
    """Tenants and nodes that tests change while the server runs."""

    def __init__(self) -> None:
        self.tenants: dict[str, list[str]] = {"dev": ["ns1", "ns2"], "prod": ["data"]}
        self.nodes = list(NODES)


@pytest.fixture
def zone() -> Zone:
    return Zone()


@pytest.fixture
def server(zone: Zone) -> Iterator[DnsServer]:
    dns_server = DnsServer(
        zone_resolver(DOMAIN, lambda: zone.tenants, lambda: zone.nodes), ttl=TTL
    )
    dns_server.start()
    try:
        yield dns_server
    finally:
        dns_server.stop()


def make_resolver(port: int) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.cache = None
    resolver.timeout = 2.0
    resolver.lifetime = 4.0
    return resolver


@pytest.fixture
def resolver(server: DnsServer) -> dns.resolver.Resolver:
    return make_resolver(server.port)


def addresses(resolver: dns.resolver.Resolver, name: str, *, tcp: bool = False) -> list[str]:
    answer = resolver.resolve(name, "A", tcp=tcp)
    return sorted(record.address for record in answer)


def query(server: DnsServer, name: str, rdtype: str = "A") -> dns.message.Message:
    """Send one query over UDP and return the raw reply, to check rcode and flags."""
    request = dns.message.make_query(name, rdtype)
    return dns.query.udp(request, server.address, port=server.port, timeout=2.0)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_namespace_host_resolves_to_every_node(resolver: dns.resolver.Resolver, tcp: bool) -> None:
    assert addresses(resolver, NAMESPACE_HOST, tcp=tcp) == NODES


@pytest.mark.parametrize("name", [f"admin.{DOMAIN}", f"dev.{DOMAIN}", f"data.prod.{DOMAIN}"])
def test_system_and_tenant_hosts_resolve(resolver: dns.resolver.Resolver, name: str) -> None:
    assert addresses(resolver, name) == NODES


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_node_that_goes_down_disappears_from_the_next_answer(
    resolver: dns.resolver.Resolver, zone: Zone, tcp: bool
) -> None:
    assert len(addresses(resolver, NAMESPACE_HOST, tcp=tcp)) == 4
    zone.nodes.remove("127.0.0.4")
    assert addresses(resolver, NAMESPACE_HOST, tcp=tcp) == ["127.0.0.2", "127.0.0.3", "127.0.0.5"]


def test_namespace_created_at_run_time_resolves(
    resolver: dns.resolver.Resolver, zone: Zone
) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(f"new.dev.{DOMAIN}", "A")
    zone.tenants["dev"].append("new")
    assert addresses(resolver, f"new.dev.{DOMAIN}") == NODES


@pytest.mark.parametrize(
    "name",
    [
        f"ns9.dev.{DOMAIN}",  # unknown namespace
        f"data.dev.{DOMAIN}",  # a namespace of another tenant
        f"ns1.test.{DOMAIN}",  # unknown tenant
        f"x.ns1.dev.{DOMAIN}",  # below a namespace host
        "ns1.dev.example.org",  # outside the domain
        f"dev.x{DOMAIN}",  # a domain that merely ends with the same letters
    ],
)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_unknown_names_are_nxdomain(resolver: dns.resolver.Resolver, name: str, tcp: bool) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(name, "A", tcp=tcp)


def test_answer_carries_the_configured_ttl(resolver: dns.resolver.Resolver) -> None:
    answer = resolver.resolve(NAMESPACE_HOST, "A")
    assert answer.rrset is not None
    assert answer.rrset.ttl == TTL


def test_names_are_case_insensitive(server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    assert addresses(resolver, "NS1.Dev.HCP.Example.COM") == NODES
    # The answer repeats the question's spelling, as resolvers expect.
    reply = query(server, "Admin.HCP.example.com")
    assert [rrset.name.to_text() for rrset in reply.answer] == ["Admin.HCP.example.com."]


def test_resolve_function_gets_lowercase_names_without_the_dot() -> None:
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return ["127.0.0.2"]

    with DnsServer(resolve) as dns_server:
        query(dns_server, "Mixed.Example.COM")
        query(dns_server, "Mixed.Example.COM", "AAAA")
    assert asked == ["mixed.example.com", "mixed.example.com"]


def test_aaaa_for_a_known_name_is_an_empty_answer(server: DnsServer) -> None:
    reply = query(server, NAMESPACE_HOST, "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []


def test_aaaa_for_an_unknown_name_is_nxdomain(server: DnsServer) -> None:
    assert query(server, f"nope.{DOMAIN}", "AAAA").rcode() == dns.rcode.NXDOMAIN


def test_known_name_without_nodes_up_is_an_empty_answer(server: DnsServer, zone: Zone) -> None:
    zone.nodes.clear()
    reply = query(server, NAMESPACE_HOST)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []


def test_reply_too_large_for_udp_is_truncated_and_complete_over_tcp(
    server: DnsServer, zone: Zone, resolver: dns.resolver.Resolver
) -> None:
    zone.nodes = [f"127.0.{n}.1" for n in range(60)]
    reply = query(server, NAMESPACE_HOST)
    assert reply.flags & dns.flags.TC
    # The resolver sees the truncation and repeats the query over TCP by itself.
    assert len(addresses(resolver, NAMESPACE_HOST)) == 60


def test_failing_resolve_function_gives_servfail_and_server_survives() -> None:
    def resolve(name: str) -> list[str] | None:
        if name == "boom.example.com":
            raise RuntimeError("resolver bug")
        return ["127.0.0.9"]

    with DnsServer(resolve) as dns_server:
        assert query(dns_server, "boom.example.com").rcode() == dns.rcode.SERVFAIL
        assert addresses(make_resolver(dns_server.port), "fine.example.com") == ["127.0.0.9"]


def test_bad_address_from_resolve_function_gives_servfail() -> None:
    with DnsServer(lambda name: ["not-an-address"]) as dns_server:
        assert query(dns_server, "a.example.com").rcode() == dns.rcode.SERVFAIL


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x00",
        b"garbage that is not a DNS message",
        bytes(range(256)),
        # A header announcing one question whose name points at itself.
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
    ],
    ids=["empty", "one-byte", "text", "bytes", "pointer-loop"],
)
def test_malformed_udp_packet_is_ignored(
    server: DnsServer, resolver: dns.resolver.Resolver, packet: bytes
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(packet, (server.address, server.port))
        with pytest.raises(TimeoutError):
            sock.recv(512)
    assert addresses(resolver, NAMESPACE_HOST) == NODES


def test_malformed_tcp_message_closes_only_that_connection(
    server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    garbage = b"not DNS at all"
    with socket.create_connection((server.address, server.port), timeout=2.0) as sock:
        sock.sendall(struct.pack("!H", len(garbage)) + garbage)
        assert sock.recv(512) == b""
    assert addresses(resolver, NAMESPACE_HOST, tcp=True) == NODES


def test_response_packet_is_not_answered(server: DnsServer) -> None:
    reply = query(server, NAMESPACE_HOST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(reply.to_wire(), (server.address, server.port))
        with pytest.raises(TimeoutError):
            sock.recv(512)


def test_one_debug_line_per_query(server: DnsServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="hcpfs.emulator.dns"):
        query(server, NAMESPACE_HOST)
        query(server, f"nope.{DOMAIN}", "AAAA")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        f"DNS {NAMESPACE_HOST} A: NOERROR, 4 answers",
        f"DNS nope.{DOMAIN} AAAA: NXDOMAIN, 0 answers",
    ]


def assert_port_free(port: int) -> None:
    """Bind UDP without SO_REUSEADDR and listen on TCP with it, as a restarted server would."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", port))
        tcp.listen()


def test_stop_frees_the_port_and_is_idempotent(zone: Zone) -> None:
    dns_server = DnsServer(zone_resolver(DOMAIN, lambda: zone.tenants, lambda: zone.nodes))
    dns_server.start()
    try:
        port = dns_server.port
        resolver = make_resolver(port)
        assert addresses(resolver, NAMESPACE_HOST) == NODES
        assert addresses(resolver, NAMESPACE_HOST, tcp=True) == NODES
        with pytest.raises(OSError):
            assert_port_free(port)
    finally:
        dns_server.stop()
    dns_server.stop()
    assert_port_free(port)


def test_context_manager_serves_inside_and_stops_on_exit() -> None:
    with DnsServer(lambda name: ["127.0.0.2"]) as dns_server:
        port = dns_server.port
        assert port != 0
        assert addresses(make_resolver(port), "any.example.com", tcp=True) == ["127.0.0.2"]
    assert_port_free(port)


def test_explicit_port_that_is_taken_fails_to_start(server: DnsServer) -> None:
    second = DnsServer(lambda name: None, port=server.port)
    with pytest.raises(OSError):
        second.start()
    second.stop()


def test_started_server_cannot_start_again(server: DnsServer) -> None:
    with pytest.raises(RuntimeError):
        server.start()


class TestZoneResolver:
    """The name rules alone, without a server."""

    def resolve(self, zone: Zone, name: str) -> list[str] | None:
        found = zone_resolver(DOMAIN, lambda: zone.tenants, lambda: zone.nodes)(name)
        return None if found is None else list(found)

    @pytest.mark.parametrize(
        "name",
        [
            f"admin.{DOMAIN}",
            f"dev.{DOMAIN}",
            f"ns2.dev.{DOMAIN}",
            f"replication.{DOMAIN}",
            f"replication.admin.{DOMAIN}",
            f"NS2.DEV.{DOMAIN.upper()}.",
        ],
    )
    def test_system_names(self, zone: Zone, name: str) -> None:
        assert self.resolve(zone, name) == NODES

    @pytest.mark.parametrize(
        "name",
        [
            DOMAIN,
            "example.com",
            f"www.{DOMAIN}",
            f"data.dev.{DOMAIN}",
            f"admin.dev.{DOMAIN}",
            f"replication.dev.{DOMAIN}",
            f"a.b.c.{DOMAIN}",
            f"ns1.dev.{DOMAIN}.evil.org",
        ],
    )
    def test_other_names_are_unknown(self, zone: Zone, name: str) -> None:
        assert self.resolve(zone, name) is None

    def test_tenant_names_compare_case_insensitively(self, zone: Zone) -> None:
        zone.tenants = {"Europe": ["Finance"]}
        assert self.resolve(zone, f"finance.europe.{DOMAIN}") == NODES

    def test_callables_are_consulted_on_every_lookup(self, zone: Zone) -> None:
        resolve = zone_resolver(DOMAIN, lambda: zone.tenants, lambda: zone.nodes)
        assert resolve(f"qa.{DOMAIN}") is None
        zone.tenants["qa"] = []
        zone.nodes = ["127.0.0.7"]
        assert list(resolve(f"qa.{DOMAIN}") or []) == ["127.0.0.7"]
