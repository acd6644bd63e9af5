"""Injected faults (docs/emulator.md, "Faults"): each one's effect seen by a raw HTTP client, and
that it ends by count, by time and by ``clear()``."""

from __future__ import annotations

import errno
import http.client
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import urllib3

from hcpfs.emulator import Emulator, Faults
from hcpfs.emulator.faults import (
    CONTROL_PATH,
    ControlError,
    ControlServer,
    control,
    handle_control,
)
from hcpfs.emulator.server import Node

DEADLINE = 10.0
KIB = 1024
MIB = 1024 * 1024


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulator]:
    """Three nodes on their own addresses, for the whole module."""
    with Emulator(nodes=3, address_base="127.0.0.41") as hcp:
        hcp.system.faults.attach(hcp.system)
        try:
            yield hcp
        finally:
            hcp.system.faults.clear()


@pytest.fixture
def faults(cluster: Emulator) -> Iterator[Faults]:
    """The cluster's faults, empty; afterwards every fault is cleared, every node serves again
    and no connection or fault thread is left."""
    cluster.reset()
    faults = cluster.system.faults
    try:
        yield faults
    finally:
        faults.clear()
        wait_for(lambda: all(node.running for node in cluster.nodes), "the nodes to run")
        wait_for(lambda: not leftover_threads(), "connection and fault threads to end")


def leftover_threads() -> list[str]:
    names = [thread.name for thread in threading.enumerate()]
    return [name for name in names if name.startswith(("hcp-conn", "hcp-fault"))]


def wait_for(condition: Callable[[], bool], what: str) -> float:
    """Poll ``condition`` until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > DEADLINE:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def request(
    hcp: Emulator,
    node: Node,
    method: str = "GET",
    name: str = "object",
    body: bytes | None = None,
    timeout: float = DEADLINE,
) -> Reply:
    """Send one request on a new connection to ``node``; read the whole answer."""
    headers = {"Host": hcp.host, "Authorization": hcp.auth_header}
    conn = http.client.HTTPConnection(node.address, node.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request(method, f"/rest/{name}", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, response.headers, data, time.monotonic() - started)
    finally:
        conn.close()


def answers(hcp: Emulator, node: Node, timeout: float = 1.0) -> bool:
    """Tell whether the node answers a request at all (any status)."""
    try:
        request(hcp, node, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return False
    return True


def stored(hcp: Emulator, size: int, name: str = "object") -> bytes:
    data = os.urandom(size)
    assert request(hcp, hcp.nodes[0], "PUT", name, data).status == 201
    return data


def raw_request(
    hcp: Emulator, node: Node, method: str, name: str, body: bytes = b""
) -> socket.socket:
    """Send a whole request on a raw socket and return the socket, unread."""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    head = (
        f"{method} /rest/{name} HTTP/1.1\r\nHost: {hcp.host}\r\n"
        f"Authorization: {hcp.auth_header}\r\n{length}\r\n"
    )
    sock = socket.create_connection((node.address, node.port), timeout=DEADLINE)
    try:
        sock.sendall(head.encode() + body)
    except BaseException:
        sock.close()
        raise
    return sock


# -- node down and system down ------------------------------------------------------------


def test_node_down_refuses_connections_until_its_time_is_up(
    cluster: Emulator, faults: Faults
) -> None:
    down, other = cluster.nodes[1], cluster.nodes[0]
    kept = http.client.HTTPConnection(down.address, down.port, timeout=DEADLINE)
    headers = {"Host": cluster.host, "Authorization": cluster.auth_header}
    try:
        kept.request("GET", "/rest/object", headers=headers)
        kept.getresponse().read()
        started = time.monotonic()
        faults.node_down(down, seconds=0.5)
        # The open connection was closed, and new ones are refused.
        with pytest.raises(ConnectionError):
            kept.request("GET", "/rest/object", headers=headers)
            kept.getresponse().read()
        with pytest.raises(ConnectionRefusedError):
            request(cluster, down)
        assert request(cluster, other).status == 404
        assert [f["fault"] for f in faults.active()] == ["node_down"]
        wait_for(lambda: answers(cluster, down), "the node to start again")
    finally:
        kept.close()
    assert time.monotonic() - started >= 0.45
    assert faults.active() == []


def test_node_down_ends_by_clear(cluster: Emulator, faults: Faults) -> None:
    down = cluster.nodes[2]
    faults.node_down(down)
    with pytest.raises(ConnectionRefusedError):
        request(cluster, down)
    assert faults.active()[0]["node"] == down.address
    assert faults.clear() == 1
    assert request(cluster, down).status == 404


def test_system_down_refuses_on_every_node_then_comes_back(
    cluster: Emulator, faults: Faults
) -> None:
    faults.system_down(seconds=0.5)
    for node in cluster.nodes:
        with pytest.raises(ConnectionRefusedError):
            request(cluster, node)
    wait_for(lambda: all(answers(cluster, node) for node in cluster.nodes), "the system")
    assert faults.active() == []


def test_system_down_ends_by_clear(cluster: Emulator, faults: Faults) -> None:
    faults.system_down()
    assert faults.active()[0]["nodes"] == cluster.addresses
    with pytest.raises(ConnectionRefusedError):
        request(cluster, cluster.nodes[0])
    faults.clear()
    assert [request(cluster, node).status for node in cluster.nodes] == [404, 404, 404]


# -- black hole ---------------------------------------------------------------------------


def test_black_hole_times_clients_out_until_its_time_is_up(
    cluster: Emulator, faults: Faults
) -> None:
    hole, other = cluster.nodes[0], cluster.nodes[1]
    faults.black_hole(hole, seconds=1.0)
    with pytest.raises(TimeoutError):
        request(cluster, hole, timeout=0.5)
    assert request(cluster, other).status == 404
    wait_for(lambda: answers(cluster, hole, timeout=0.5), "the black hole to end")
    assert faults.active() == []


def test_black_hole_by_count_holds_the_request_and_closes_without_answer(
    cluster: Emulator, faults: Faults
) -> None:
    hole = cluster.nodes[1]
    faults.black_hole(hole, count=1)
    with raw_request(cluster, hole, "GET", "object") as sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1024)
        # The count is used up: the next request is served while the first is still held.
        assert request(cluster, hole).status == 404
        assert faults.active() == []
        faults.clear()
        sock.settimeout(DEADLINE)
        assert sock.recv(1024) == b""


def test_black_hole_ends_by_clear(cluster: Emulator, faults: Faults) -> None:
    hole = cluster.nodes[2]
    faults.black_hole(hole)
    with pytest.raises(TimeoutError):
        request(cluster, hole, timeout=0.5)
    faults.clear()
    assert request(cluster, hole, timeout=2.0).status == 404


# -- error rate ---------------------------------------------------------------------------


def test_error_rate_one_refuses_every_request_until_the_count_is_used(
    cluster: Emulator, faults: Faults
) -> None:
    stored(cluster, 10)
    faults.error_rate(1.0, count=4)
    replies = [request(cluster, cluster.nodes[i % 3]) for i in range(4)]
    assert [reply.status for reply in replies] == [503] * 4
    assert all(reply.headers.get("X-HCP-ErrorMessage") for reply in replies)
    assert request(cluster, cluster.nodes[0]).status == 200
    assert faults.active() == []


def test_error_rate_zero_refuses_nothing(cluster: Emulator, faults: Faults) -> None:
    stored(cluster, 10)
    faults.error_rate(0.0)
    assert {request(cluster, cluster.nodes[i % 3]).status for i in range(20)} == {200}
    assert faults.clear() == 1


def test_error_rate_with_a_seed_repeats_its_mix(cluster: Emulator, faults: Faults) -> None:
    stored(cluster, 10)
    generator = random.Random(7)
    expected = [503 if generator.random() < 0.5 else 200 for _ in range(20)]
    assert set(expected) == {200, 503}
    for _ in range(2):
        faults.error_rate(0.5, seed=7, count=20)
        statuses = [request(cluster, cluster.nodes[i % 3]).status for i in range(20)]
        assert statuses == expected
        assert faults.active() == []


def test_error_rate_on_one_node_with_another_status_for_a_time(
    cluster: Emulator, faults: Faults
) -> None:
    stored(cluster, 10)
    failing = cluster.nodes[2]
    faults.error_rate(1.0, status=500, node=failing, seconds=0.5)
    assert request(cluster, failing).status == 500
    assert request(cluster, cluster.nodes[0]).status == 200
    wait_for(lambda: request(cluster, failing).status == 200, "the error rate to end")
    assert faults.active() == []


# -- latency and bandwidth ----------------------------------------------------------------


def test_latency_delays_requests_until_the_count_is_used(
    cluster: Emulator, faults: Faults
) -> None:
    node = cluster.nodes[0]
    faults.latency(0.4, count=2)
    assert [request(cluster, node).seconds >= 0.4 for _ in range(2)] == [True, True]
    assert request(cluster, node).seconds < 0.4


def test_latency_on_one_node_and_on_all_nodes_adds_up(cluster: Emulator, faults: Faults) -> None:
    slow, other = cluster.nodes[1], cluster.nodes[2]
    faults.latency(0.2)
    faults.latency(0.2, node=slow)
    assert request(cluster, slow).seconds >= 0.4
    assert 0.2 <= request(cluster, other).seconds < 0.4
    faults.clear()
    assert request(cluster, slow).seconds < 0.2


def test_bandwidth_caps_request_and_response_bodies(cluster: Emulator, faults: Faults) -> None:
    node = cluster.nodes[0]
    data = os.urandom(200 * KIB)
    # 200 KiB at 1 MiB/s takes about 0.2 s each way.
    faults.bandwidth(MIB, count=2)
    assert request(cluster, node, "PUT", "slow", data).seconds >= 0.15
    reply = request(cluster, node, "GET", "slow")
    assert reply.body == data and reply.seconds >= 0.15
    reply = request(cluster, node, "GET", "slow")
    assert reply.body == data and reply.seconds < 0.15
    assert faults.active() == []


# -- cut responses and reset requests -----------------------------------------------------


def test_cut_response_sends_fewer_bytes_than_announced(cluster: Emulator, faults: Faults) -> None:
    node = cluster.nodes[1]
    data = stored(cluster, 100_000)
    faults.cut_response(1000)
    conn = http.client.HTTPConnection(node.address, node.port, timeout=DEADLINE)
    try:
        headers = {"Host": cluster.host, "Authorization": cluster.auth_header}
        conn.request("GET", "/rest/object", headers=headers)
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(data))
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
    finally:
        conn.close()
    assert cut.value.partial == data[:1000]
    assert faults.active() == []
    assert request(cluster, node).body == data


def test_cut_response_by_default_cuts_half_and_skips_empty_bodies(
    cluster: Emulator, faults: Faults
) -> None:
    data = stored(cluster, 100_000)
    faults.cut_response()
    # A 201 without a body is not what the fault waits for.
    assert request(cluster, cluster.nodes[0], "PUT", "other", b"x").status == 201
    assert len(faults.active()) == 1
    with pytest.raises(http.client.IncompleteRead) as cut:
        request(cluster, cluster.nodes[0])
    assert cut.value.partial == data[:50_000]


def test_reset_request_resets_the_connection_and_stores_nothing(
    cluster: Emulator, faults: Faults
) -> None:
    node = cluster.nodes[2]
    faults.reset_request(4096)
    sock = raw_request(cluster, node, "PUT", "reset", os.urandom(64 * KIB))
    with sock, pytest.raises(ConnectionResetError) as reset:
        sock.recv(1024)
    assert reset.value.errno == errno.ECONNRESET
    assert request(cluster, node, "HEAD", "reset").status == 404
    assert faults.active() == []
    assert request(cluster, node, "PUT", "reset", b"whole").status == 201
    assert request(cluster, node, "GET", "reset").body == b"whole"


def test_reset_request_breaks_a_streaming_client(cluster: Emulator, faults: Faults) -> None:
    node = cluster.nodes[0]
    faults.reset_request(MIB, count=2)
    # A body shorter than the limit is stored and does not count.
    assert request(cluster, node, "PUT", "short", b"short").status == 201
    assert faults.active()[0]["count_left"] == 2
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        request(cluster, node, "PUT", "big", os.urandom(4 * MIB))
    assert request(cluster, node, "HEAD", "big").status == 404


# -- every limited fault ends by time and by clear() --------------------------------------


def _probe_latency(hcp: Emulator, node: Node) -> bool:
    return request(hcp, node).seconds < 0.5


def _probe_bandwidth(hcp: Emulator, node: Node) -> bool:
    return request(hcp, node, "GET", "probe").seconds < 0.5


def _probe_error_rate(hcp: Emulator, node: Node) -> bool:
    return request(hcp, node, "GET", "probe").status == 200


def _probe_black_hole(hcp: Emulator, node: Node) -> bool:
    return answers(hcp, node, timeout=0.5)


def _probe_cut_response(hcp: Emulator, node: Node) -> bool:
    try:
        return len(request(hcp, node, "GET", "probe").body) == 100 * KIB
    except http.client.IncompleteRead:
        return False


def _probe_reset_request(hcp: Emulator, node: Node) -> bool:
    try:
        return request(hcp, node, "PUT", "probe-copy", os.urandom(KIB)).status == 201
    except ConnectionError:
        return False


# Each fault with parameters that make the probe fail, and the probe.
SWITCHES: dict[str, tuple[dict[str, float], Callable[[Emulator, Node], bool]]] = {
    "latency": ({"delay": 0.5}, _probe_latency),
    "bandwidth": ({"bytes_per_second": 100 * KIB}, _probe_bandwidth),
    "error_rate": ({"rate": 1.0}, _probe_error_rate),
    "black_hole": ({}, _probe_black_hole),
    "cut_response": ({"after_bytes": 10, "count": 100}, _probe_cut_response),
    "reset_request": ({"after_bytes": 10, "count": 100}, _probe_reset_request),
}


def switch_on(faults: Faults, node: Node, kind: str, seconds: float | None) -> None:
    params: dict[str, object] = dict(SWITCHES[kind][0])
    if kind == "black_hole":
        faults.black_hole(node, seconds=seconds)
    else:
        getattr(faults, kind)(node=node, seconds=seconds, **params)


@pytest.mark.parametrize("kind", SWITCHES)
def test_fault_ends_by_time(cluster: Emulator, faults: Faults, kind: str) -> None:
    node, probe = cluster.nodes[0], SWITCHES[kind][1]
    assert request(cluster, node, "PUT", "probe", os.urandom(100 * KIB)).status == 201
    switch_on(faults, node, kind, seconds=1.0)
    assert not probe(cluster, node)
    wait_for(lambda: faults.active() == [], "the fault's time to be up")
    assert probe(cluster, node)


@pytest.mark.parametrize("kind", SWITCHES)
def test_fault_ends_by_clear(cluster: Emulator, faults: Faults, kind: str) -> None:
    node, probe = cluster.nodes[0], SWITCHES[kind][1]
    assert request(cluster, node, "PUT", "probe", os.urandom(100 * KIB)).status == 201
    switch_on(faults, node, kind, seconds=None)
    assert not probe(cluster, node)
    assert faults.clear() == 1
    assert probe(cluster, node)


def test_switches_refuse_impossible_values(cluster: Emulator, faults: Faults) -> None:
    node = cluster.nodes[0]
    with pytest.raises(ValueError, match="rate"):
        faults.error_rate(1.5)
    with pytest.raises(ValueError, match="status"):
        faults.error_rate(1.0, status=200)
    with pytest.raises(ValueError, match="seconds"):
        faults.latency(0.1, seconds=0)
    with pytest.raises(ValueError, match="count"):
        faults.black_hole(node, count=0)
    with pytest.raises(ValueError, match="bytes_per_second"):
        faults.bandwidth(0)
    assert faults.active() == []


# -- the control endpoint -----------------------------------------------------------------


@pytest.fixture
def control_url(cluster: Emulator, faults: Faults) -> Iterator[str]:
    """A control server for the cluster on an address of its own; stopped before the faults
    are checked."""
    with ControlServer(cluster.system, "127.0.0.1", 0) as server:
        yield server.url


def test_control_switches_latency_on_lists_it_and_clears_it(
    cluster: Emulator, faults: Faults, control_url: str
) -> None:
    slow = cluster.nodes[1]
    answer = control(control_url, "latency", delay=0.3, node=slow.address)
    listed = control(control_url, "list")["faults"]
    assert listed == answer["faults"]
    assert [(f["id"], f["fault"], f["node"], f["delay"]) for f in listed] == [
        (answer["id"], "latency", slow.address, 0.3)
    ]
    assert request(cluster, slow).seconds >= 0.3
    assert control(control_url, "clear") == {"cleared": 1}
    assert control(control_url, "list") == {"faults": []}
    assert request(cluster, slow).seconds < 0.3


def test_control_error_rate_by_count_and_by_id(
    cluster: Emulator, faults: Faults, control_url: str
) -> None:
    node = cluster.nodes[0]
    body = json.dumps({"fault": "error_rate", "rate": 1, "count": 2})
    created = urllib3.request("POST", control_url + CONTROL_PATH, body=body, retries=False)
    assert created.status == 201 and created.json()["faults"][0]["count_left"] == 2
    assert [request(cluster, node).status for _ in range(3)] == [503, 503, 404]
    assert faults.active() == []

    ident = control(control_url, "error_rate", rate="1", status="500")["id"]
    assert request(cluster, node).status == 500
    assert control(control_url, "remove", id=ident) == {"removed": ident}
    assert request(cluster, node).status == 404
    with pytest.raises(ControlError) as missing:
        control(control_url, "remove", id=ident)
    assert missing.value.status == 404


def test_control_takes_the_system_down_and_back(
    cluster: Emulator, faults: Faults, control_url: str
) -> None:
    control(control_url, "system_down", seconds=0.5)
    with pytest.raises(ConnectionRefusedError):
        request(cluster, cluster.nodes[2])
    wait_for(lambda: all(answers(cluster, node) for node in cluster.nodes), "the system")
    assert control(control_url, "list") == {"faults": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"delay": 1}', '"fault"'),
        (b'{"fault": "gremlins"}', "unknown fault"),
        (b'{"fault": "latency", "delay": 0.1, "colour": "red"}', "unknown parameter"),
        (b'{"fault": "latency", "delay": 0.1, "node": "127.0.0.99"}', "no node"),
        (b'{"fault": "latency", "delay": true}', "must be a number"),
        (b'{"fault": "latency"}', "delay"),
        (b'{"fault": "black_hole", "node": "127.0.0.41", "count": 1.5}', "whole number"),
        (b'{"fault": "error_rate", "rate": 2}', "rate"),
    ],
)
def test_control_refuses_bad_requests(
    faults: Faults, control_url: str, body: bytes, message: str
) -> None:
    answer = urllib3.request("POST", control_url + CONTROL_PATH, body=body, retries=False)
    assert answer.status == 400
    assert message in answer.json()["error"]
    assert faults.active() == []


def test_control_answers_only_its_own_path(cluster: Emulator, faults: Faults) -> None:
    assert handle_control(cluster.system, "PUT", CONTROL_PATH)[0] == 405
    assert handle_control(cluster.system, "GET", CONTROL_PATH + "/1")[0] == 405
    assert handle_control(cluster.system, "GET", "/rest/object")[0] == 404


def test_namespace_hosts_do_not_serve_the_control_path(cluster: Emulator, faults: Faults) -> None:
    node = cluster.nodes[0]
    conn = http.client.HTTPConnection(node.address, node.port, timeout=DEADLINE)
    try:
        body = json.dumps({"fault": "error_rate", "rate": 1})
        conn.request("POST", CONTROL_PATH, body=body, headers={"Host": cluster.host})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status in (400, 403)
    assert response.getheader("X-HCP-ErrorMessage")
    assert faults.active() == []
