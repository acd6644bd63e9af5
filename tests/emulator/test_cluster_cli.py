"""``hcpfs emulator`` with nodes, TLS, DNS, the management API, a replica and fault control: what
it prints works as printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator

import dns.resolver
import pytest
from emulator_process import read_banner, stop

from hcpfs.cli import main
from hcpfs.emulator.faults import CONTROL_PATH, control

DEADLINE = 20.0
FREE_PORTS = ["--port", "0", "--https-port", "0", "--mapi-port", "0", "--dns-port", "0"]
FREE_PORTS += ["--control-port", "0"]

Start = Callable[..., str]


@pytest.fixture
def start() -> Iterator[Start]:
    """Run ``hcpfs emulator ARGS`` in the background; return its banner. Always stopped."""
    processes: list[subprocess.Popen[str]] = []

    def run(*args: str) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", "hcpfs.cli", "emulator", *FREE_PORTS, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return read_banner(process, DEADLINE)

    yield run
    codes = [stop(process, DEADLINE) for process in processes]
    assert codes == [0] * len(processes)


def examples(banner: str, program: str) -> list[str]:
    return [line.strip() for line in banner.splitlines() if line.strip().startswith(program)]


def run_printed(command: str) -> str:
    """Run a printed ``hcpfs`` or curl command (curl quietly); return what it printed."""
    argv = shlex.split(command)
    if argv[0] == "hcpfs":
        argv[:1] = [sys.executable, "-m", "hcpfs.cli"]
    else:
        argv[1:1] = ["--silent", "--show-error", "--max-time", "10"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    return result.stdout


def run_curl(command: str) -> tuple[int, str]:
    argv = shlex.split(command)
    argv[1:1] = ["--silent", "--show-error", "--max-time", "10"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    status = re.match(r"HTTP/1\.1 (\d{3}) ", result.stdout)
    assert status, result.stdout
    return int(status.group(1)), result.stdout


def test_the_full_deployment_and_its_examples(start: Start) -> None:
    banner = start("--replica", "--link-type", "active-active", "--nodes", "2")
    assert "Nodes of hcp.example.com: 127.0.0.2, 127.0.0.3" in banner
    assert "Replica hcp-replica.example.com: 127.0.0.4, 127.0.0.5" in banner
    assert "active-active link primary-replica" in banner
    assert "ns1.dev.hcp-replica.example.com" in banner
    assert "Management user: admin  password: adminpass" in banner
    assert "Data access user: dev  password: devpass" in banner
    ca_file = re.search(r"^CA certificate: (\S+)$", banner, re.M)
    assert ca_file, banner

    curls = [c for c in examples(banner, "curl ") if CONTROL_PATH not in c]
    assert [c.split()[2] for c in curls] == ["--connect-to", "--cacert", "--cacert"]
    assert all(run_curl(command)[0] == 200 for command in curls)
    assert "<links><name>primary-replica</name></links>" in run_curl(curls[2])[1]

    (dig,) = examples(banner, "dig ")
    found = re.fullmatch(r"dig @(\S+) -p (\d+) \+short (\S+)", dig)
    assert found, dig
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [found.group(1)]
    resolver.port = int(found.group(2))
    answer = resolver.resolve(found.group(3), "A", lifetime=DEADLINE)
    assert sorted(record.address for record in answer) == ["127.0.0.2", "127.0.0.3"]
    replica = resolver.resolve("admin.hcp-replica.example.com", "A", lifetime=DEADLINE)
    assert sorted(record.address for record in replica) == ["127.0.0.4", "127.0.0.5"]

    urls = re.search(
        r"^Fault control: (\S+) \(replica: (\S+)\); see hcpfs fault --help$", banner, re.M
    )
    assert urls, banner
    url, replica_url = urls.groups()
    (hcpfs_fault,) = examples(banner, "hcpfs fault")
    assert hcpfs_fault == f"hcpfs fault --url {url} latency delay=0.002"
    (curl_fault,) = [c for c in examples(banner, "curl ") if CONTROL_PATH in c]
    assert curl_fault.endswith(f" {url}{CONTROL_PATH}")
    switched = [json.loads(run_printed(command)) for command in (hcpfs_fault, curl_fault)]
    assert [answer["id"] for answer in switched] == [1, 2]
    listed = control(url, "list")["faults"]
    assert [(f["fault"], f["node"], f["delay"]) for f in listed] == [("latency", None, 0.002)] * 2
    assert control(replica_url, "list") == {"faults": []}


def test_without_tls_and_dns(start: Start) -> None:
    banner = start(
        "--no-tls", "--no-dns", "--no-control", "--nodes", "1", "--address", "127.0.0.91"
    )
    assert "CA certificate" not in banner and "DNS server" not in banner
    assert "Fault control" not in banner and not examples(banner, "hcpfs fault")
    assert "management API (HTTP)" in banner
    curls = examples(banner, "curl ")
    assert len(curls) == 2 and not examples(banner, "dig ")
    assert "--connect-to ::127.0.0.91:" in curls[0]
    assert [run_curl(command)[0] for command in curls] == [200, 200]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0"], "--nodes must be at least 1"),
        (["--replication-delay", "-1"], "--replication-delay cannot be negative"),
        (["--control-port", "65536"], "the control port must be between 0 and 65535"),
        (["--replica", "--control-port", "65535"], "the control port must be between 0 and 65534"),
    ],
)
def test_options_that_do_not_fit(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulator", *FREE_PORTS, *args]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"hcpfs: error: {message}"


def test_a_port_in_use_is_one_line_with_a_hint(
    start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    banner = start("--nodes", "1", "--address", "127.0.0.92", "--no-dns")
    port = re.search(r"HTTP port (\d+)", banner)
    assert port
    argv = ["emulator", "--nodes", "1", "--address", "127.0.0.92", "--no-dns", *FREE_PORTS[2:]]
    assert main([*argv, "--port", port.group(1)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("hcpfs: error: ") and err[1].startswith("hcpfs: hint: ")
