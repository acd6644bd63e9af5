"""hcpfs.sdk against a four-node emulator: requests spread over the nodes, node failures (down,
black hole, 503) that never reach the caller, idle connections, and node lists that change in
DNS (docs/sdk.md, "Targets and connections" and "Reliability")."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import hcpfs.sdk as hcpsdk
from hcpfs.emulator import Emulator, Faults, SystemConfig
from hcpfs.emulator.dns import DnsServer, zone_resolver
from hcpfs.emulator.server import Node

DEADLINE = 20.0
NODES = 4

MakeTarget = Callable[..., hcpsdk.Target]


@dataclass
class Handled:
    """One request a node handled: where, when (wall clock) and in which connection thread."""

    address: str
    at: float
    thread: threading.Thread


class Served(Faults):
    """The cluster's fault switches, which also record every request a node went on to
    handle: requests refused or swallowed by an injected fault are not recorded."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__()
        self._addresses = list(addresses)
        self._record_lock = threading.Lock()
        self._handled: list[Handled] = []

    def before_request(self, node: Node, method: str, path: str) -> int | None:
        refusal = super().before_request(node, method, path)
        if refusal is None:
            handled = Handled(node.address, time.time(), threading.current_thread())
            with self._record_lock:
                self._handled.append(handled)
        return refusal

    def forget(self) -> None:
        """Start counting again from zero."""
        with self._record_lock:
            self._handled.clear()

    def handled(self, address: str | None = None) -> list[Handled]:
        """The requests handled so far, by one node or by all."""
        with self._record_lock:
            return [h for h in self._handled if address is None or h.address == address]

    def counts(self) -> dict[str, int]:
        """The number of requests each node handled."""
        found = dict.fromkeys(self._addresses, 0)
        for handled in self.handled():
            found[handled.address] += 1
        return found


@dataclass
class Outcome:
    """What the caller of the SDK saw for one request."""

    method: str
    url: str
    status: int
    body: bytes
    as_expected: bool


@dataclass
class Run:
    """A run of PUTs of new objects and GETs of them from several threads, each thread with
    a connection of its own on one shared target; stops after ``total`` requests."""

    target: hcpsdk.Target
    total: int
    threads: int
    timeout: float = 5.0
    prefix: str = "/rest/run"
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _claimed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    @property
    def done(self) -> int:
        with self._lock:
            return len(self.outcomes) + len(self.errors)

    def start(self) -> Run:
        self._workers = [
            threading.Thread(target=self._work, args=(k,), name=f"sdk-run-{k}")
            for k in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def wait_until(self, done: int) -> None:
        wait_for(lambda: self.done >= done, f"{done} requests to finish")

    def join(self) -> Run:
        deadline = time.monotonic() + DEADLINE
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        assert not any(worker.is_alive() for worker in self._workers), "the run did not end"
        return self

    def _claim(self) -> int | None:
        with self._lock:
            if self._claimed >= self.total:
                return None
            self._claimed += 1
            return self._claimed

    def _work(self, k: int) -> None:
        stored: list[tuple[str, bytes]] = []
        with hcpsdk.Connection(self.target, timeout=self.timeout) as con:
            while (number := self._claim()) is not None:
                try:
                    outcome = self._one(con, k, number, stored)
                except hcpsdk.HcpsdkError as exc:
                    with self._lock:
                        self.errors.append(exc)
                    return
                with self._lock:
                    self.outcomes.append(outcome)

    def _one(
        self, con: hcpsdk.Connection, k: int, number: int, stored: list[tuple[str, bytes]]
    ) -> Outcome:
        if number % 2 and stored:
            url, data = stored[number % len(stored)]
            con.GET(url)
            body = con.read()
            status = con.response_status or 0
            return Outcome("GET", url, status, data, status == 200 and body == data)
        url, data = f"{self.prefix}/t{k}/o{number}", f"object {k}-{number}".encode() * 16
        con.PUT(url, body=data)
        con.read()
        stored.append((url, data))
        status = con.response_status or 0
        return Outcome("PUT", url, status, data, status == 201)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> float:
    """Poll ``condition`` until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - started


def resent(caplog: pytest.LogCaptureFixture, method: str) -> set[str]:
    """The paths the SDK logged it was sending again with ``method``."""
    found = set()
    for record in caplog.records:
        if str(record.msg).startswith("sending %s %s again") and isinstance(record.args, tuple):
            sent_method, path, _address = record.args
            if sent_method == method:
                found.add(str(path))
    return found


def marked_down(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "marked down" in record.getMessage()]


def read_object(target: hcpsdk.Target, url: str) -> bytes:
    with hcpsdk.Connection(target) as con:
        con.GET(url)
        body = con.read()
        assert con.response_status == 200, (url, con.response_status)
        return body


def count_left(faults: Faults, ident: int) -> int:
    """How many more requests a fault with a count will consider (0 once it ended)."""
    for active in faults.active():
        if active["id"] == ident:
            left: Any = active["count_left"]
            return int(left)
    return 0


def assert_all_well(run: Run, caplog: pytest.LogCaptureFixture) -> None:
    """No error reached a caller, every request had its answer. A PUT whose first attempt
    was stored on a node that failed before answering gets 409 when it is sent again, since
    HCP never overwrites; that is accepted only for a PUT the SDK did send again, and only
    if the object holds what was sent."""
    assert run.errors == []
    assert len(run.outcomes) == run.total
    again = resent(caplog, "PUT")
    for outcome in run.outcomes:
        if outcome.method == "PUT" and outcome.status == 409:
            assert outcome.url in again, outcome
            assert read_object(run.target, outcome.url) == outcome.body
        else:
            assert outcome.as_expected, outcome


def addresses(base: str, count: int) -> list[str]:
    first = ipaddress.IPv4Address(base)
    return [str(first + i) for i in range(count)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulator]:
    """Four nodes on their own addresses, for the whole module."""
    base = "127.0.0.61"
    counting = Served(addresses(base, NODES))
    with Emulator(nodes=NODES, address_base=base, faults=counting, dns=True) as hcp:
        counting.attach(hcp.system)
        try:
            yield hcp
        finally:
            counting.clear()


@pytest.fixture
def faults(cluster: Emulator) -> Iterator[Faults]:
    """The cluster's faults, none active; afterwards every fault ends and every node runs."""
    cluster.reset()
    faults = cluster.system.faults
    try:
        yield faults
    finally:
        faults.clear()
        wait_for(lambda: all(node.running for node in cluster.nodes), "the nodes to run")


@pytest.fixture
def served(cluster: Emulator, faults: Faults) -> Served:
    """The requests each node handled during the test."""
    assert isinstance(faults, Served)
    faults.forget()
    return faults


@pytest.fixture
def targets(cluster: Emulator) -> Iterator[MakeTarget]:
    """Make targets for the cluster's first namespace (its node list as the name lookup);
    every target made is closed after the test."""
    made: list[hcpsdk.Target] = []

    def make(**options: Any) -> hcpsdk.Target:
        auth = hcpsdk.NativeAuthorization(cluster.user, cluster.password)
        options.setdefault("lookup", lambda name: cluster.addresses)
        made.append(hcpsdk.Target(cluster.host, auth, port=cluster.port, tls=False, **options))
        return made[-1]

    try:
        yield make
    finally:
        for target in made:
            target.close()


def test_requests_are_spread_over_every_node(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    run = Run(targets(), total=400, threads=4).start().join()
    assert run.errors == []
    assert all(outcome.as_expected for outcome in run.outcomes)
    counts = served.counts()
    assert sum(counts.values()) == 400
    for address in cluster.addresses:
        assert 90 <= counts[address] <= 110, counts


def test_one_connection_takes_the_nodes_in_turn(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    with hcpsdk.Connection(targets()) as con:
        answered = []
        for _ in range(2 * NODES):
            con.HEAD("/rest")
            assert con.response_status == 200
            answered.append(con.address)
    assert answered == cluster.addresses * 2
    assert list(served.counts().values()) == [2] * NODES


def test_a_node_down_during_a_mixed_run_reaches_no_caller_and_serves_again_later(
    cluster: Emulator,
    faults: Faults,
    served: Served,
    targets: MakeTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs.sdk")
    avoid = 1.0
    target = targets(avoid_time=avoid, refresh_time=avoid)
    victim = cluster.nodes[1]

    run = Run(target, total=500, threads=4).start()
    run.wait_until(100)
    fault = faults.node_down(victim)
    handled_before = len(served.handled(victim.address))
    run.wait_until(250)
    assert len(served.handled(victim.address)) == handled_before
    faults.remove(fault)
    back = time.time()
    run.join()

    assert_all_well(run, caplog)
    downs = marked_down(caplog)
    assert downs, "the SDK never noticed the node was down"
    assert {record.args[0] for record in downs if isinstance(record.args, tuple)} == {
        victim.address
    }
    avoided_until = max(record.created for record in downs) + avoid

    # Once its avoidance period is over, the node gets requests again.
    with hcpsdk.Connection(target) as con:

        def victim_served() -> bool:
            con.HEAD("/rest")
            assert con.response_status == 200
            return any(h.at >= back for h in served.handled(victim.address))

        wait_for(victim_served, "the node to be used again", deadline=avoid + 5.0)
    after = [h.at for h in served.handled(victim.address) if h.at >= back]
    # The log record is made just after the avoidance began: allow for a busy machine.
    assert min(after) >= avoided_until - 0.25


def test_a_black_holed_node_costs_one_timeout(
    cluster: Emulator, faults: Faults, targets: MakeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    timeout = 1.0
    target = targets(avoid_time=30.0)

    def timed_run(prefix: str) -> float:
        started = time.perf_counter()
        run = Run(target, total=40, threads=1, timeout=timeout, prefix=prefix).start().join()
        seconds = time.perf_counter() - started
        assert run.errors == []
        assert all(outcome.as_expected for outcome in run.outcomes)
        return seconds

    before = timed_run("/rest/before")
    faults.black_hole(cluster.nodes[2])
    with_hole = timed_run("/rest/during")
    # The node is still a black hole, but avoided now: no more timeouts.
    after = timed_run("/rest/after")

    assert [record.args for record in marked_down(caplog)] == [
        (cluster.nodes[2].address, cluster.host, 30.0)
    ]
    assert with_hole >= timeout
    # Less than a second timeout (the allowance absorbs a busy machine's jitter).
    assert with_hole - min(before, after) < timeout + 0.5, (before, with_hole, after)


def test_503_from_one_node_is_retried_on_another(
    cluster: Emulator,
    faults: Faults,
    served: Served,
    targets: MakeTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs.sdk")
    busy = cluster.nodes[3]
    considered = 10_000
    fault = faults.error_rate(1.0, node=busy, count=considered)

    run = Run(targets(), total=200, threads=2).start().join()

    assert_all_well(run, caplog)
    assert not any(outcome.status == 503 for outcome in run.outcomes)
    assert served.counts()[busy.address] == 0
    refused = considered - count_left(faults, fault)
    assert refused >= 200 // NODES // 2, refused
    # Busy is not down: the node is not avoided, so it keeps being asked.
    assert marked_down(caplog) == []


def test_503_from_every_node_is_returned_after_the_retries(
    cluster: Emulator, faults: Faults, targets: MakeTarget
) -> None:
    considered = 1000
    fault = faults.error_rate(1.0, count=considered)
    with hcpsdk.Connection(targets(), retries=3) as con:
        con.GET("/rest")
        con.read()
        assert con.response_status == 503
        assert con.getheader("X-HCP-ErrorMessage")
    assert considered - count_left(faults, fault) == 4


def test_200_threads_with_a_connection_each_share_one_target(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    target = targets()
    threads = 200
    start = threading.Barrier(threads, timeout=DEADLINE)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        data = f"thread {k}".encode()
        try:
            start.wait()
            with hcpsdk.Connection(target, timeout=DEADLINE) as con:
                con.PUT(f"/rest/many/{k}", body=data)
                con.read()
                stored = con.response_status == 201
                con.GET(f"/rest/many/{k}")
                ok = stored and con.read() == data and con.response_status == 200
        except (hcpsdk.HcpsdkError, threading.BrokenBarrierError) as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(ok)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, started + DEADLINE - time.monotonic()))
    elapsed = time.monotonic() - started

    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    assert results == [True] * threads
    assert elapsed < DEADLINE
    counts = served.counts()
    assert sum(counts.values()) == 2 * threads
    assert min(counts.values()) >= 2 * threads // NODES // 2, counts


def test_an_idle_pool_is_closed_by_the_reaper_and_the_node_sees_it(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    node = cluster.nodes[0]
    idletime = 0.3
    target = targets(lookup=lambda name: [node.address], reap_interval=0.05)
    with hcpsdk.Connection(target, idletime=idletime) as con:
        con.HEAD("/rest")
        con.read()
        assert con.connect_time > 0
        con.HEAD("/rest")
        con.read()
        assert con.connect_time == 0.0  # the open connection was used again
        first = served.handled(node.address)[-1]
        assert served.handled(node.address)[0].thread is first.thread

        waited = wait_for(lambda: not first.thread.is_alive(), "the node to see it closed")
        assert waited >= idletime * 0.8
        con.HEAD("/rest")
        con.read()
        assert con.connect_time > 0
        assert served.handled(node.address)[-1].thread is not first.thread


def test_an_idle_pool_is_replaced_when_it_is_next_needed(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    node = cluster.nodes[0]
    now = [1000.0]
    target = targets(lookup=lambda name: [node.address], clock=lambda: now[0])
    with hcpsdk.Connection(target, idletime=30) as con:
        con.HEAD("/rest")
        con.read()
        con.HEAD("/rest")
        assert con.connect_time == 0.0
        first = served.handled(node.address)[-1]

        now[0] += 29.0  # not idle long enough yet
        con.HEAD("/rest")
        con.read()
        assert con.connect_time == 0.0
        now[0] += 31.0
        con.HEAD("/rest")
        con.read()
        assert con.connect_time > 0
        assert served.handled(node.address)[-1].thread is not first.thread
        wait_for(lambda: not first.thread.is_alive(), "the node to see the old one closed")


class Zone:
    """A DNS server for the cluster's names that answers with the addresses listed here,
    whether those nodes run or not."""

    def __init__(self, cluster: Emulator, listed: list[str]) -> None:
        self._lock = threading.Lock()
        self._listed = list(listed)
        config = cluster.system.config
        resolve = zone_resolver(config.domain, lambda: _tenants(config), self.listed)
        self.server = DnsServer(resolve, "127.0.0.1", 0, ttl=1)

    def listed(self) -> list[str]:
        with self._lock:
            return list(self._listed)

    def set(self, addresses: list[str]) -> None:
        with self._lock:
            self._listed = list(addresses)

    @property
    def resolver(self) -> str:
        return f"{self.server.address}:{self.server.port}"


def _tenants(config: SystemConfig) -> dict[str, list[str]]:
    return {tenant.name: [ns.name for ns in tenant.namespaces] for tenant in config.tenants}


@pytest.fixture
def zone(cluster: Emulator) -> Iterator[Zone]:
    """A DNS server listing every node of the cluster; stopped after the test."""
    made = Zone(cluster, cluster.addresses)
    made.server.start()
    try:
        yield made
    finally:
        made.server.stop()


def spread(target: hcpsdk.Target, served: Served, requests: int) -> dict[str, int]:
    """Send HEAD requests one after another; return how many each node handled."""
    before = served.counts()
    with hcpsdk.Connection(target) as con:
        for _ in range(requests):
            con.HEAD("/rest")
            assert con.response_status == 200
    return {address: count - before[address] for address, count in served.counts().items()}


def refreshed_until(target: hcpsdk.Target, expected: list[str]) -> None:
    """Keep sending requests (the node list is looked up again on use) until the target's
    addresses are ``expected``."""
    with hcpsdk.Connection(target) as con:

        def seen() -> bool:
            con.HEAD("/rest")
            return sorted(target.addresses) == sorted(expected)

        wait_for(seen, f"the target to see {expected}")


def test_the_target_resolves_the_namespace_through_dns(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget, zone: Zone
) -> None:
    answer = hcpsdk.ips.query(cluster.host, resolver=zone.resolver)
    assert (sorted(answer.ips), answer.raised) == (sorted(cluster.addresses), "")
    unknown = hcpsdk.ips.query(f"nowhere.dev.{cluster.domain}", resolver=zone.resolver)
    assert (unknown.ips, bool(unknown.raised)) == ([], True)

    target = targets(lookup=None, resolver=zone.resolver)
    assert sorted(target.addresses) == sorted(cluster.addresses)
    assert spread(target, served, 4 * NODES) == dict.fromkeys(cluster.addresses, 4)


def test_a_name_dns_does_not_know_cannot_make_a_target(
    cluster: Emulator, faults: Faults, zone: Zone
) -> None:
    auth = hcpsdk.NativeAuthorization(cluster.user, cluster.password)
    with pytest.raises(hcpsdk.ips.IpsError, match="nowhere"):
        hcpsdk.Target(
            f"nowhere.dev.{cluster.domain}", auth, port=cluster.port, resolver=zone.resolver
        )


def test_a_node_removed_from_dns_is_no_longer_used_after_a_refresh(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget, zone: Zone
) -> None:
    target = targets(lookup=None, resolver=zone.resolver, refresh_time=0.2)
    removed = cluster.addresses[2]
    kept = [address for address in cluster.addresses if address != removed]
    assert spread(target, served, NODES)[removed] == 1

    zone.set(kept)
    refreshed_until(target, kept)
    counts = spread(target, served, 30)
    # The node still runs: only DNS keeps the SDK away from it.
    assert cluster.nodes[2].running
    assert counts == {**dict.fromkeys(kept, 10), removed: 0}


def test_a_node_added_to_dns_is_used_after_a_refresh(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget, zone: Zone
) -> None:
    first, added = cluster.addresses[:3], cluster.addresses[3]
    zone.set(first)
    target = targets(lookup=None, resolver=zone.resolver, refresh_time=0.2)
    assert sorted(target.addresses) == sorted(first)
    assert spread(target, served, 30) == {**dict.fromkeys(first, 10), added: 0}

    zone.set(cluster.addresses)
    refreshed_until(target, cluster.addresses)
    assert spread(target, served, 40) == dict.fromkeys(cluster.addresses, 10)


def test_the_emulators_dns_drops_a_node_that_is_down_and_names_it_again_when_up(
    cluster: Emulator, faults: Faults, served: Served, targets: MakeTarget
) -> None:
    resolver = f"{cluster.dns_address}:{cluster.dns_port}"
    target = targets(lookup=None, resolver=resolver, refresh_time=0.2)
    assert sorted(target.addresses) == sorted(cluster.addresses)
    gone, others = cluster.addresses[3], cluster.addresses[:3]
    cluster.take_down(3)
    try:
        refreshed_until(target, others)
        assert spread(target, served, 30) == {**dict.fromkeys(others, 10), gone: 0}
    finally:
        cluster.bring_up(3)
    refreshed_until(target, cluster.addresses)
    assert spread(target, served, 40) == dict.fromkeys(cluster.addresses, 10)


def test_a_node_gone_from_dns_and_down_costs_no_error(
    cluster: Emulator,
    faults: Faults,
    served: Served,
    targets: MakeTarget,
    zone: Zone,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hcpfs.sdk")
    target = targets(lookup=None, resolver=zone.resolver, refresh_time=30.0, avoid_time=30.0)
    victim = cluster.nodes[0]
    faults.node_down(victim)
    zone.set(cluster.addresses[1:])
    run = Run(target, total=60, threads=2).start().join()
    assert_all_well(run, caplog)
    # The failure made the SDK look the list up again at once, long before refresh_time.
    assert victim.address not in target.addresses
    assert served.counts()[victim.address] == 0
