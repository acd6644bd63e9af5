"""``hcpfs fault`` against a running ``hcpfs emulator``: faults switched on from the command line
act on the nodes, are listed, removed and cleared, and bad input is one clear line; and the
``Emulator``'s own fault control endpoints start and stop with it."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import urllib3
from emulator_process import read_banner, stop

from hcpfs.cli import FAULT_URL_VARIABLE, main
from hcpfs.emulator import Emulator
from hcpfs.emulator.credentials import hcp_token
from hcpfs.emulator.faults import ControlError, control

DEADLINE = 20.0
HOST = "ns1.dev.hcp.example.com"
HEADERS = {"Host": HOST, "Authorization": "HCP " + hcp_token("dev", "devpass")}
ADDRESS_BASE = "127.0.0.121"
PORTS = ["--port", "0", "--mapi-port", "0", "--control-port", "0"]
SLOW = 0.3


@dataclass(frozen=True)
class Running:
    """What the emulator's banner tells: the nodes of both systems and the control URLs."""

    nodes: list[str]
    replica_nodes: list[str]
    port: int
    url: str
    replica_url: str


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Fault = Callable[..., Result]


def parse_banner(banner: str) -> Running:
    nodes = re.search(r"^Nodes of \S+: (.+)$", banner, re.M)
    replica = re.search(r"^Replica \S+: (.+)$", banner, re.M)
    port = re.search(r"HTTP port (\d+)", banner)
    urls = re.search(r"^Fault control: (\S+) \(replica: (\S+)\); see hcpfs fault", banner, re.M)
    assert nodes and replica and port and urls, banner
    return Running(
        nodes.group(1).split(", "),
        replica.group(1).split(", "),
        int(port.group(1)),
        urls.group(1),
        urls.group(2),
    )


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    """``hcpfs emulator`` with a replica as a child process for the module; stopped by its pid
    at the end, which must work with faults still switched on."""
    argv = ["emulator", "--nodes", "2", "--address", ADDRESS_BASE, "--replica"]
    process = subprocess.Popen(
        [sys.executable, "-m", "hcpfs.cli", *argv, "--no-tls", "--no-dns", *PORTS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found = parse_banner(read_banner(process))
        yield found
        control(found.url, "node_down", node=found.nodes[1], seconds=60)
        control(found.replica_url, "latency", delay=60)
    finally:
        assert stop(process, DEADLINE) == 0


@pytest.fixture
def fault(running: Running, capsys: pytest.CaptureFixture[str]) -> Iterator[Fault]:
    """Run ``hcpfs fault --url <the primary's control> ARGS`` in this process; every fault of
    both systems is cleared afterwards."""

    def run(*args: str, url: str = running.url) -> Result:
        code = main(["fault", "--url", url, *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    try:
        yield run
    finally:
        control(running.url, "clear")
        control(running.replica_url, "clear")


def get(node: str, port: int, timeout: float = DEADLINE) -> tuple[int, float]:
    """GET a missing object from ``node`` on a new connection: the status and the seconds."""
    started = time.monotonic()
    with urllib3.HTTPConnectionPool(node, port, retries=False, timeout=timeout) as pool:
        response = pool.request("GET", "/rest/missing", headers=HEADERS)
    return response.status, time.monotonic() - started


def refused(node: str, port: int) -> bool:
    try:
        get(node, port, timeout=2.0)
    except urllib3.exceptions.NewConnectionError:
        return True
    return False


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def table(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line) for line in out.splitlines()]


def test_latency_on_one_node_is_listed_then_removed(running: Running, fault: Fault) -> None:
    fast, slow = running.nodes
    switched = fault("latency", f"delay={SLOW}", f"node={slow}")
    assert switched.code == 0, switched.err
    answer = json.loads(switched.out)
    ident = answer["id"]
    assert [(f["fault"], f["node"], f["delay"]) for f in answer["faults"]] == [
        ("latency", slow, SLOW)
    ]
    assert get(slow, running.port)[1] >= SLOW
    assert get(fast, running.port)[1] < SLOW

    listed = fault("list")
    assert listed.code == 0
    assert table(listed.out) == [
        ["ID", "FAULT", "NODES", "PARAMETERS", "SECONDS LEFT", "COUNT LEFT"],
        [str(ident), "latency", slow, f"delay={SLOW}", "-", "-"],
    ]
    as_json = fault("list", "--json")
    assert json.loads(as_json.out) == {"faults": answer["faults"]}

    removed = fault("remove", str(ident))
    assert (removed.code, json.loads(removed.out)) == (0, {"removed": ident})
    status, seconds = get(slow, running.port)
    assert status == 404 and seconds < SLOW
    assert fault("list").out.strip() == "No active faults."


def test_error_rate_answers_errors_until_its_count_is_used(running: Running, fault: Fault) -> None:
    node = running.nodes[0]
    switched = fault("error_rate", "rate=1", "status=500", "count=2")
    assert switched.code == 0, switched.err
    assert [get(node, running.port)[0] for _ in range(3)] == [500, 500, 404]
    assert json.loads(fault("list", "--json").out) == {"faults": []}


def test_node_down_until_clear(running: Running, fault: Fault) -> None:
    up, down = running.nodes
    assert fault("node_down", f"node={down}").code == 0
    assert refused(down, running.port)
    assert get(up, running.port)[0] == 404
    rows = table(fault("list").out)
    assert [row[1:3] for row in rows[1:]] == [["node_down", down]]

    cleared = fault("clear")
    assert (cleared.code, json.loads(cleared.out)) == (0, {"cleared": 1})
    wait_for(lambda: not refused(down, running.port), "the node to serve again")


def test_node_down_for_seconds_ends_by_itself(running: Running, fault: Fault) -> None:
    node = running.nodes[1]
    assert fault("node_down", f"node={node}", "seconds=0.5").code == 0
    assert refused(node, running.port)
    wait_for(lambda: not refused(node, running.port), "the node to serve again")
    assert fault("list").out.strip() == "No active faults."


def test_the_replica_has_a_control_of_its_own(running: Running, fault: Fault) -> None:
    switched = fault("system_down", url=running.replica_url)
    assert switched.code == 0, switched.err
    assert json.loads(switched.out)["faults"][0]["nodes"] == running.replica_nodes
    assert all(refused(node, running.port) for node in running.replica_nodes)
    assert get(running.nodes[0], running.port)[0] == 404
    assert fault("list").out.strip() == "No active faults."
    assert json.loads(fault("clear", url=running.replica_url).out) == {"cleared": 1}


def test_the_url_comes_from_the_environment(
    running: Running, fault: Fault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_URL_VARIABLE, running.replica_url)
    assert main(["fault", "latency", "delay=0.001", "count=1"]) == 0
    assert len(control(running.replica_url, "list")["faults"]) == 1
    assert control(running.url, "list") == {"faults": []}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["gremlins"], 1, "unknown fault 'gremlins'; known: node_down, "),
        (["latency", "delay=fast"], 1, "delay must be a number, not 'fast'"),
        (["latency", "delay=0.1", "colour=red"], 1, "unknown parameter 'colour'"),
        (["latency"], 1, "delay"),
        (["node_down", "node=127.0.0.99"], 1, "no node has the address '127.0.0.99'"),
        (["error_rate", "rate=2"], 1, "rate must be between 0 and 1"),
        (["latency", "delay"], 2, "parameters are NAME=VALUE, not 'delay'"),
        (["latency", "delay=1", "delay=2"], 2, "delay is given twice"),
        (["remove", "first"], 2, "remove takes one fault id"),
        (["remove", "99"], 1, "no active fault has id '99'"),
        (["list", "all=1"], 2, "list takes no parameters"),
    ],
)
def test_bad_input_is_one_line_and_switches_nothing(
    running: Running, fault: Fault, args: list[str], code: int, message: str
) -> None:
    result = fault(*args)
    assert (result.code, result.out) == (code, "")
    (line,) = result.err.splitlines()
    assert line.startswith("hcpfs: error: ") and message in line, line
    assert control(running.url, "list") == {"faults": []}


def test_no_control_at_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        assert main(["fault", "--url", url, "latency", "delay=1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0] == f"hcpfs: error: no emulator fault control at {url}; is `hcpfs emulator` running?"
    )
    assert err[1].startswith("hcpfs: hint: ") and FAULT_URL_VARIABLE in err[1]

    assert main(["fault", "--url", "127.0.0.1:9099", "list"]) == 2
    assert "must start with http://" in capsys.readouterr().err


def test_a_node_is_not_a_fault_control(running: Running, fault: Fault) -> None:
    result = fault("list", url=f"http://{running.nodes[0]}:{running.port}")
    assert result.code == 1
    assert "no answer of a fault control endpoint" in result.err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_banner_leaves_out_the_default_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    environment = {**os.environ, FAULT_URL_VARIABLE: url}
    argv = ["emulator", "--nodes", "1", "--address", "127.0.0.125", "--no-tls", "--no-dns"]
    port = url.rpartition(":")[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "hcpfs.cli", *argv, *PORTS[:4], "--control-port", port],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        banner = read_banner(process)
        assert f"Fault control: {url}; see hcpfs fault --help" in banner
        examples = [line.strip() for line in banner.splitlines() if line.startswith("  hcpfs ")]
        assert examples == ["hcpfs fault latency delay=0.002"]
        command = [sys.executable, "-m", "hcpfs.cli", *examples[0].split()[1:]]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=DEADLINE, env=environment, check=False
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["faults"][0]["delay"] == 0.002
    finally:
        assert stop(process, DEADLINE) == 0


# -- the Emulator's control endpoints ---------------------------------------------------------


def fault_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("hcp-fault")]


def test_emulator_serves_each_systems_faults_and_stops_them() -> None:
    with Emulator(nodes=2, address_base="127.0.0.131", replica=True, control_port=0) as hcp:
        url, replica_url = hcp.control_url, hcp.replica_control_url
        assert url is not None and replica_url is not None and url != replica_url
        node, replica_node = hcp.nodes[1], hcp.replica_addresses[0]
        control(url, "node_down", node=node.address, seconds=0.3)
        control(replica_url, "latency", delay=0.001)
        assert not node.running
        assert [f["fault"] for f in hcp.system.faults.active()] == ["node_down"]
        assert hcp.replica is not None
        assert [f["fault"] for f in hcp.replica.faults.active()] == ["latency"]
        with pytest.raises(ControlError, match="no node has the address"):
            control(url, "node_down", node=replica_node)
    assert hcp.control_url is None and hcp.replica_control_url is None
    assert not fault_threads()
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        control(url, "list")
    time.sleep(0.5)  # past the node_down's time: stopping ended it without a restart
    assert not node.running


def test_a_control_port_in_use_stops_the_emulator() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        hcp = Emulator(address="127.0.0.135", control_port=port)
        with pytest.raises(OSError, match=f"fault control on 127.0.0.1 port {port}") as error:
            hcp.start()
    assert error.value.errno == errno.EADDRINUSE
    assert hcp.systems == [] and hcp.control_url is None
