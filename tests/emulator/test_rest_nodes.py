"""Several nodes of one system: shared content, stopping and starting a node at run time."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.exchange import Request, Response

if TYPE_CHECKING:
    from conftest import Client


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """A three-node system on 127.0.0.2, .3 and .4."""
    with Emulator(nodes=3, port=0) as emulator:
        yield emulator


def test_nodes_share_one_port_and_one_store(
    hcp: Emulator, connect: Callable[[str], Client]
) -> None:
    assert hcp.addresses == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert [node.port for node in hcp.nodes] == [hcp.port] * 3
    assert hcp.url == f"http://127.0.0.2:{hcp.port}"
    clients = [connect(address) for address in hcp.addresses]
    assert clients[0].put("/rest/shared", b"from node 1").status == 201
    for client in clients:
        assert client.request("GET", "/rest/shared").body == b"from node 1"
    assert clients[2].put("/rest/shared", b"again").status == 409


def test_stopped_node_refuses_connections_and_comes_back(
    hcp: Emulator, connect: Callable[[str], Client]
) -> None:
    second = hcp.nodes[1]
    idle = connect(second.address)
    other = connect(hcp.addresses[2])
    try:
        assert idle.request("GET", "/rest").status == 200
        second.stop()
        assert not second.running
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            idle.request("GET", "/rest")  # the open keep-alive connection was closed
        fresh = http.client.HTTPConnection(second.address, hcp.port, timeout=5)
        with pytest.raises(ConnectionRefusedError):
            fresh.connect()
        assert other.put("/rest/while-down", b"x").status == 201
        second.start()
        assert second.running and second.port == hcp.port
        assert connect(second.address).request("GET", "/rest/while-down").body == b"x"
    finally:
        second.start()


def test_a_node_with_its_own_handler(hcp: Emulator) -> None:
    seen: list[tuple[str, str, str]] = []

    def management(request: Request) -> Response:
        seen.append((request.method, request.path, request.host))
        return Response(200, [("Content-Type", "text/plain")], b"management")

    node = hcp.system.add_node("127.0.0.5", 0, handler=management)
    node.start()
    try:
        conn = http.client.HTTPConnection(node.address, node.port, timeout=10)
        conn.request("GET", "/mapi/tenants", headers={"Host": "admin.hcp.example.com:9090"})
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"management")
        assert response.getheader("X-HCP-SoftwareVersion") == hcp.system.config.software_version
        conn.close()
    finally:
        node.stop()
    assert seen == [("GET", "/mapi/tenants", "admin.hcp.example.com")]
    assert node not in hcp.nodes
