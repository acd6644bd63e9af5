"""Connection behaviour over fake node pools: requests, retries, node avoidance, idle pools,
replica strategies and logging. No sockets: every node is a :class:`FakeNodes` pool."""

from __future__ import annotations

import io
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
from urllib3 import BaseHTTPResponse, HTTPSConnectionPool
from urllib3 import exceptions as u3

import hcpfs.sdk as hcpsdk
from hcpfs.sdk.connection import build_url
from hcpfs.sdk.pool import PoolSpec, Urllib3Pool
from hcpfs.sdk.testing import FakeNodes, FakeRequest, broken, refused, respond, timed_out

FQDN = "ns1.t1.hcp.example.com"
REPLICA = "ns1.t1.hcp-dr.example.com"
NODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
REPLICA_NODES = ["127.0.1.2", "127.0.1.3"]
AUTH = hcpsdk.NativeAuthorization("user", "secret")
Handler = Callable[[FakeRequest], BaseHTTPResponse]


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def _lookup(name: str) -> list[str]:
    return {FQDN: NODES, REPLICA: REPLICA_NODES}[name]


def _target(handler: Handler, **options: object) -> tuple[hcpsdk.Target, FakeNodes]:
    nodes = FakeNodes(handler)
    target = hcpsdk.Target(
        FQDN,
        AUTH,
        lookup=_lookup,
        pool_factory=nodes,
        **options,  # type: ignore[arg-type]  # each test passes the options it needs
    )
    return target, nodes


def _failing(failing: dict[str, Exception | int], default: int = 200) -> Handler:
    """Nodes in ``failing`` raise their error or answer their status; others answer 200."""

    def handler(request: FakeRequest) -> BaseHTTPResponse:
        outcome = failing.get(request.address, default)
        if isinstance(outcome, Exception):
            raise outcome
        return respond(outcome, b"body" if outcome == 200 else b"")

    return handler


# -- plain requests ------------------------------------------------------------------------


def test_get_sends_host_and_authorization_and_reads_the_body() -> None:
    target, nodes = _target(lambda r: respond(200, b"hello", {"X-HCP-Type": "object"}))
    with hcpsdk.Connection(target) as con:
        response = con.GET("/rest/dir/file.txt", params={"version": 7})
        assert con.response is response
        assert (con.response_status, con.response_reason) == (200, "OK")
        assert con.getheader("x-hcp-type") == "object"
        assert con.getheader("X-Missing", "none") == "none"
        assert ("X-HCP-Type", "object") in con.getheaders()
        assert con.read(2) == b"he"
        assert con.read() == b"llo"
        assert con.address == NODES[0]
        assert con.url == "/rest/dir/file.txt?version=7"
        assert 0 <= con.service_time1 <= con.service_time2
    (request,) = nodes.requests
    assert request.url == "/rest/dir/file.txt?version=7"
    assert request.headers["Host"] == FQDN
    assert request.headers["Authorization"] == AUTH.headers["Authorization"]
    assert request.headers["User-Agent"].startswith("hcpfs/")


def test_requests_go_round_robin_and_pools_are_shared_per_node() -> None:
    target, nodes = _target(lambda r: respond())
    for _ in range(2):
        with hcpsdk.Connection(target) as con:
            for _ in range(4):
                con.HEAD("/rest/x")
    assert nodes.addresses() == NODES + NODES
    assert sorted(pool.spec.address for pool in nodes.pools) == NODES


def test_put_of_a_file_sends_its_length_and_content() -> None:
    target, nodes = _target(lambda r: respond(201))
    stream = io.BytesIO(b"xxHELLO")
    stream.seek(2)
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/f", body=stream, headers={"Content-Type": "text/plain"})
    (request,) = nodes.requests
    assert (request.method, request.body) == ("PUT", b"HELLO")
    assert request.headers["Content-Length"] == "5"
    assert request.headers["Content-Type"] == "text/plain"


def test_error_statuses_are_returned_not_raised() -> None:
    target, _ = _target(lambda r: respond(409, headers={"X-HCP-ErrorMessage": "exists"}))
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/f", body=b"x")
        assert con.response_status == 409
        assert con.getheader("X-HCP-ErrorMessage") == "exists"


def test_timeouts_are_passed_to_the_pool() -> None:
    target, nodes = _target(lambda r: respond())
    hcpsdk.Connection(target, timeout=42).GET("/rest/a")
    hcpsdk.Connection(target, timeout=5, connect_timeout=1.5).GET("/rest/a")
    assert (nodes.requests[0].timeout.connect_timeout, nodes.requests[0].timeout.read_timeout) == (
        10.0,
        42,
    )
    assert nodes.requests[1].timeout.connect_timeout == 1.5


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("/rest/a b/ü.txt", None, "/rest/a%20b/%C3%BC.txt"),
        ("/rest/a%20b", None, "/rest/a%20b"),
        ("/rest/100%", None, "/rest/100%25"),
        ("/rest/a+b&c?d#e", None, "/rest/a%2Bb%26c%3Fd%23e"),
        ("/rest/d", {"type": "directory"}, "/rest/d?type=directory"),
        ("/mapi/l", {"failOver": None}, "/mapi/l?failOver"),
        (
            "/rest/o",
            [("retention", "A+10y"), ("hold", "true")],
            "/rest/o?retention=A%2B10y&hold=true",
        ),
    ],
)
def test_build_url(url: str, params: dict[str, str | None] | None, expected: str) -> None:
    assert build_url(url, params) == expected


# -- retries and node avoidance -----------------------------------------------------------


def test_a_refused_node_is_retried_elsewhere_and_then_avoided() -> None:
    target, nodes = _target(_failing({NODES[0]: refused()}))
    con = hcpsdk.Connection(target)
    con.GET("/rest/a")
    assert con.read() == b"body"
    assert nodes.addresses() == [NODES[0], NODES[1]]
    assert target.circle.is_down(NODES[0])
    for _ in range(6):
        con.GET("/rest/a")
    assert NODES[0] not in nodes.addresses()[2:]


def test_a_black_holed_node_costs_one_timeout_only(caplog: pytest.LogCaptureFixture) -> None:
    target, nodes = _target(_failing({NODES[1]: timed_out()}))
    con = hcpsdk.Connection(target)
    for _ in range(10):
        con.GET("/rest/a")
        con.read()
    assert nodes.addresses().count(NODES[1]) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(NODES[1] in r.getMessage() and "down" in r.getMessage() for r in warnings)


def test_post_is_not_retried_after_a_timeout() -> None:
    target, nodes = _target(_failing({NODES[0]: timed_out()}))
    with pytest.raises(hcpsdk.HcpsdkTimeoutError) as failure:
        hcpsdk.Connection(target).POST("/rest/a", body=b"hold=true")
    assert len(nodes.requests) == 1
    assert (failure.value.node, failure.value.url) == (NODES[0], "/rest/a")
    assert isinstance(failure.value.__cause__, u3.ReadTimeoutError)


def test_post_is_retried_when_nothing_was_sent() -> None:
    target, nodes = _target(_failing({NODES[0]: refused()}))
    hcpsdk.Connection(target).POST("/rest/a", body=b"hold=true")
    assert nodes.addresses() == [NODES[0], NODES[1]]


def _generated() -> Iterator[bytes]:
    yield b"part"


def test_a_body_that_cannot_be_rewound_is_not_retried() -> None:
    target, nodes = _target(_failing({NODES[0]: broken()}))
    with pytest.raises(hcpsdk.HcpsdkCantConnectError):
        hcpsdk.Connection(target).PUT("/rest/a", body=_generated())
    assert len(nodes.requests) == 1


def test_a_seekable_body_is_sent_again_from_its_start() -> None:
    target, nodes = _target(_failing({NODES[0]: timed_out()}, default=201))
    stream = io.BytesIO(b"--payload")
    stream.seek(2)
    hcpsdk.Connection(target).PUT("/rest/a", body=stream)
    assert [r.body for r in nodes.requests] == [b"payload", b"payload"]


def test_busy_nodes_are_retried_elsewhere_without_being_marked_down() -> None:
    target, nodes = _target(_failing({NODES[0]: 503, NODES[1]: 503}))
    con = hcpsdk.Connection(target)
    con.GET("/rest/a")
    assert con.response_status == 200
    assert nodes.addresses() == NODES[:3]
    assert target.circle.healthy() == NODES


def test_busy_everywhere_returns_the_last_503_after_the_retries() -> None:
    target, nodes = _target(_failing({}, default=503))
    con = hcpsdk.Connection(target, retries=2)
    con.GET("/rest/a")
    assert con.response_status == 503
    assert nodes.addresses() == NODES[:3]


def test_busy_post_is_returned_at_once() -> None:
    target, nodes = _target(_failing({}, default=503))
    con = hcpsdk.Connection(target)
    con.POST("/rest/a")
    assert (con.response_status, len(nodes.requests)) == (503, 1)


def test_retries_are_bounded_and_each_goes_to_another_node() -> None:
    target, nodes = _target(_failing(dict.fromkeys(NODES, refused())))
    with pytest.raises(hcpsdk.HcpsdkCantConnectError):
        hcpsdk.Connection(target, retries=2).GET("/rest/a")
    assert len(nodes.requests) == 3
    assert len(set(nodes.addresses())) == 3


def test_no_retries_means_one_attempt() -> None:
    target, nodes = _target(_failing(dict.fromkeys(NODES, timed_out())))
    with pytest.raises(hcpsdk.HcpsdkTimeoutError):
        hcpsdk.Connection(target, retries=0).GET("/rest/a")
    assert len(nodes.requests) == 1


def test_a_dropped_connection_may_be_retried_on_the_same_node() -> None:
    calls: list[str] = []

    def handler(request: FakeRequest) -> BaseHTTPResponse:
        calls.append(request.address)
        if len(calls) == 1:
            raise broken()
        return respond()

    nodes = FakeNodes(handler)
    target = hcpsdk.Target(FQDN, AUTH, lookup=lambda n: ["127.0.0.2"], pool_factory=nodes)
    hcpsdk.Connection(target).GET("/rest/a")
    assert calls == ["127.0.0.2", "127.0.0.2"]
    assert not target.circle.is_down("127.0.0.2")


def test_certificate_errors_are_not_retried() -> None:
    error = u3.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    target, nodes = _target(_failing(dict.fromkeys(NODES, error)))
    with pytest.raises(hcpsdk.HcpsdkCertificateError):
        hcpsdk.Connection(target).GET("/rest/a")
    assert len(nodes.requests) == 1


def test_a_failure_while_reading_the_body_is_reported() -> None:
    class Truncated(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise u3.ProtocolError("Connection broken", ConnectionResetError())

    def handler(request: FakeRequest) -> BaseHTTPResponse:
        response = respond(200, b"")
        response._fp = Truncated()  # type: ignore[assignment]  # swap in a failing stream
        return response

    target, _ = _target(handler)
    con = hcpsdk.Connection(target)
    con.GET("/rest/a")
    with pytest.raises(hcpsdk.HcpsdkCantConnectError) as failure:
        con.read()
    assert failure.value.url == "/rest/a"


def test_read_without_a_response_is_an_error() -> None:
    target, _ = _target(lambda r: respond())
    with pytest.raises(hcpsdk.HcpsdkError):
        hcpsdk.Connection(target).read()


# -- finishing responses and idle pools ----------------------------------------------------


def test_an_unread_response_is_released_before_the_next_request() -> None:
    responses: list[BaseHTTPResponse] = []

    def handler(request: FakeRequest) -> BaseHTTPResponse:
        responses.append(respond(200, b"x" * 100))
        return responses[-1]

    target, _ = _target(handler)
    con = hcpsdk.Connection(target)
    con.GET("/rest/a")
    con.GET("/rest/b")
    assert responses[0].closed
    assert not responses[1].closed
    con.close()
    assert responses[1].closed


def test_an_idle_pool_is_replaced_at_the_next_request() -> None:
    clock = Clock()
    nodes = FakeNodes(lambda r: respond())
    target = hcpsdk.Target(
        FQDN, AUTH, lookup=lambda n: ["127.0.0.2"], pool_factory=nodes, clock=clock
    )
    con = hcpsdk.Connection(target, idletime=30)
    con.GET("/rest/a")
    con.read()
    clock.now += 29.0
    con.GET("/rest/a")
    con.read()
    assert len(nodes.pools) == 1
    clock.now += 31.0
    con.GET("/rest/a")
    assert len(nodes.pools) == 2
    assert nodes.pools[0].closed and not nodes.pools[1].closed


def test_reading_the_body_counts_as_use() -> None:
    clock = Clock()
    nodes = FakeNodes(lambda r: respond(200, b"data"))
    target = hcpsdk.Target(
        FQDN, AUTH, lookup=lambda n: ["127.0.0.2"], pool_factory=nodes, clock=clock
    )
    con = hcpsdk.Connection(target, idletime=30)
    con.GET("/rest/a")
    clock.now += 25.0
    con.read()
    clock.now += 25.0
    con.GET("/rest/a")
    assert len(nodes.pools) == 1


def test_reap_closes_only_pools_idle_longer_than_their_idletime() -> None:
    clock = Clock()
    target, nodes = _target(lambda r: respond(), clock=clock)
    hcpsdk.Connection(target, idletime=10).GET("/rest/a")
    hcpsdk.Connection(target, idletime=100).GET("/rest/a")
    clock.now += 50.0
    assert target.reap() == 1
    assert [pool.closed for pool in nodes.pools] == [True, False]


def test_the_reaper_thread_closes_idle_pools_and_stops_with_the_target() -> None:
    clock = Clock()
    target, nodes = _target(lambda r: respond(), clock=clock, reap_interval=0.01)
    con = hcpsdk.Connection(target, idletime=1)
    con.GET("/rest/a")
    con.read()
    reaper = target._reaper
    assert reaper is not None and reaper.is_alive()
    clock.now += 5.0
    deadline = time.monotonic() + 5.0
    while not nodes.pools[0].closed and time.monotonic() < deadline:
        time.sleep(0.005)
    assert nodes.pools[0].closed
    target.close()
    assert not reaper.is_alive()


def test_keepalive_options_make_their_own_pool() -> None:
    nodes = FakeNodes(lambda r: respond())
    target = hcpsdk.Target(FQDN, AUTH, lookup=lambda n: ["127.0.0.2"], pool_factory=nodes)
    hcpsdk.Connection(target).GET("/rest/a")
    hcpsdk.Connection(target, sock_keepalive=True, tcp_keepidle=7).GET("/rest/a")
    plain, keepalive = nodes.pools
    assert plain.spec.socket_options == ()
    options = keepalive.spec.socket_options or ()
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 7) in options


# -- replica strategies --------------------------------------------------------------------


def _replicated(handler: Handler, strategy: int | None) -> tuple[hcpsdk.Target, FakeNodes]:
    return _target(handler, replica_fqdn=REPLICA, replica_strategy=strategy)


def test_replica_target_is_made_with_the_same_settings() -> None:
    target, _ = _replicated(lambda r: respond(), hcpsdk.RS_READ_ON_FAILOVER)
    assert target.replica is not None
    assert (target.replica.fqdn, target.replica.port) == (REPLICA, target.port)
    assert target.replica.addresses == REPLICA_NODES
    assert target.replica.headers["Host"] == REPLICA


def test_replica_that_cannot_be_resolved_fails_the_target() -> None:
    def lookup(name: str) -> list[str]:
        if name == REPLICA:
            raise hcpsdk.ips.IpsError("NXDOMAIN")
        return NODES

    with pytest.raises(hcpsdk.HcpsdkReplicaInitError) as failure:
        hcpsdk.Target(FQDN, AUTH, replica_fqdn=REPLICA, lookup=lookup)
    assert isinstance(failure.value.__cause__, hcpsdk.ips.IpsError)


@pytest.mark.parametrize(
    ("strategy", "method", "first"),
    [
        (None, "GET", FQDN),
        (hcpsdk.RS_READ_ALLOWED, "GET", REPLICA),
        (hcpsdk.RS_READ_ALLOWED, "HEAD", REPLICA),
        (hcpsdk.RS_READ_ALLOWED, "PUT", FQDN),
        (hcpsdk.RS_READ_ON_FAILOVER, "GET", FQDN),
        (hcpsdk.RS_WRITE_ALLOWED, "PUT", REPLICA),
        (hcpsdk.RS_WRITE_ALLOWED, "DELETE", REPLICA),
        (hcpsdk.RS_WRITE_ALLOWED, "GET", FQDN),
        (hcpsdk.RS_WRITE_ON_FAILOVER | hcpsdk.RS_READ_ALLOWED, "POST", FQDN),
    ],
)
def test_which_system_is_asked_first(strategy: int | None, method: str, first: str) -> None:
    target, nodes = _replicated(lambda r: respond(), strategy)
    con = hcpsdk.Connection(target)
    con.request(method, "/rest/a")
    assert nodes.requests[0].headers["Host"] == first
    expected = REPLICA_NODES if first == REPLICA else NODES
    assert con.address in expected
    assert con.answered_by is (target.replica if first == REPLICA else target)


@pytest.mark.parametrize(
    ("strategy", "method"),
    [(hcpsdk.RS_READ_ON_FAILOVER, "GET"), (hcpsdk.RS_WRITE_ON_FAILOVER, "PUT")],
)
def test_failover_to_the_replica_when_every_primary_node_fails(strategy: int, method: str) -> None:
    target, nodes = _replicated(_failing(dict.fromkeys(NODES, refused())), strategy)
    con = hcpsdk.Connection(target)
    con.request(method, "/rest/a", body=b"x" if method == "PUT" else None)
    assert con.address in REPLICA_NODES
    assert sorted(nodes.addresses()[:4]) == NODES
    assert nodes.requests[-1].headers["Host"] == REPLICA
    # Every primary node is marked down now: the next request goes to the replica at once.
    before = len(nodes.requests)
    con.request(method, "/rest/a", body=b"x" if method == "PUT" else None)
    assert len(nodes.requests) == before + 1
    assert nodes.requests[-1].address in REPLICA_NODES


def test_without_a_failover_strategy_the_replica_is_not_used() -> None:
    target, nodes = _replicated(
        _failing(dict.fromkeys(NODES, refused())), hcpsdk.RS_READ_ON_FAILOVER
    )
    with pytest.raises(hcpsdk.HcpsdkCantConnectError):
        hcpsdk.Connection(target).PUT("/rest/a", body=b"x")
    assert all(address in NODES for address in nodes.addresses())


def test_a_post_timeout_does_not_fail_over() -> None:
    target, nodes = _replicated(
        _failing(dict.fromkeys(NODES, timed_out())), hcpsdk.RS_WRITE_ON_FAILOVER
    )
    with pytest.raises(hcpsdk.HcpsdkTimeoutError):
        hcpsdk.Connection(target).POST("/rest/a")
    assert len(nodes.requests) == 1


def test_reads_fall_back_to_the_primary_when_the_replica_fails() -> None:
    target, nodes = _replicated(
        _failing(dict.fromkeys(REPLICA_NODES, refused())), hcpsdk.RS_READ_ALLOWED
    )
    con = hcpsdk.Connection(target)
    con.GET("/rest/a")
    assert con.address in NODES
    assert nodes.addresses()[:2] == REPLICA_NODES


# -- TLS settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "tls", "expected"),
    [(80, None, False), (443, None, True), (8000, None, True), (9090, None, True),
     (8888, None, False), (8080, True, True), (443, False, False)],
)  # fmt: skip
def test_tls_follows_the_port_unless_forced(port: int, tls: bool | None, expected: bool) -> None:
    target = hcpsdk.Target(FQDN, AUTH, port, tls=tls, lookup=_lookup)
    assert target.ssl is expected
    assert (target.sslcontext is not None) is expected


def test_certificates_are_verified_against_the_name_by_default() -> None:
    target, nodes = _target(lambda r: respond())
    hcpsdk.Connection(target).GET("/rest/a")
    spec = nodes.pools[0].spec
    assert (spec.tls, spec.verify, spec.fqdn, spec.address) == (True, True, FQDN, NODES[0])
    assert spec.ssl_context is not None
    assert spec.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_turning_verification_off_is_explicit_and_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = "ns-insecure.t1.hcp.example.com"
    for _ in range(3):
        target = hcpsdk.Target(name, AUTH, verify=False, lookup=lambda n: NODES)
        assert target.verify is False
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    assert not hcpsdk.Target(name, AUTH, sslcontext=unverified, lookup=lambda n: NODES).verify
    warnings = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 1
    assert name in warnings[0].getMessage()


def test_urllib3_pool_checks_the_certificate_against_the_name_not_the_address() -> None:
    context = ssl.create_default_context()
    pool = Urllib3Pool(PoolSpec("127.0.0.2", 443, FQDN, True, context, True, (), 4))._pool
    assert isinstance(pool, HTTPSConnectionPool)
    assert (pool.host, pool.port) == ("127.0.0.2", 443)
    assert pool.conn_kw["server_hostname"] == FQDN
    assert pool.assert_hostname == FQDN
    assert pool.conn_kw["ssl_context"] is context
    insecure = Urllib3Pool(PoolSpec("127.0.0.2", 443, FQDN, True, context, False, (), 4))._pool
    assert isinstance(insecure, HTTPSConnectionPool)
    assert insecure.assert_hostname is False
    plain = Urllib3Pool(PoolSpec("127.0.0.2", 80, FQDN, False, None, False, (), 4))._pool
    assert plain.scheme == "http"


# -- logging -------------------------------------------------------------------------------


def test_one_debug_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs.sdk.connection")
    target, _ = _target(lambda r: respond(201))
    with hcpsdk.Connection(target) as con:
        con.PUT("/rest/file", body=b"12345")
        con.PUT("/rest/other", body=b"1")
    lines = [r for r in caplog.records if r.name == "hcpfs.sdk.connection"]
    assert len(lines) == 2
    message = lines[0].getMessage()
    for part in ("PUT", "/rest/file", "201", NODES[0], "sent=5", "ms"):
        assert part in message
