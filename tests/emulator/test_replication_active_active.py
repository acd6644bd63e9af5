"""Two systems joined by an active/active link: writes on both, failover and failback (§12)."""

from __future__ import annotations

import http.client
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.system import System

DEADLINE = 10.0
DELAY = 0.2
BASE = "127.0.0.81"
LINK = "/mapi/services/replication/links/primary-replica"
NAMES = ("primary", "replica")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        value: str | None = self.headers.get(name)
        return value


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """One node per system; changes flow both ways 0.2 s after they were made."""
    before = set(threading.enumerate())
    with Emulator(
        address=BASE, replica=True, link_type="ACTIVE_ACTIVE", replication_delay=DELAY
    ) as emulator:
        yield emulator
    # The hash pool of the blobs module is shared by the whole process, not the emulator's.
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    left = [name for name in left if not name.startswith("hcp-hash")]
    assert left == []


@pytest.fixture(autouse=True)
def _fresh(hcp: Emulator) -> None:
    hcp.reset()


@pytest.fixture
def sides(hcp: Emulator) -> tuple[System, System]:
    replica = hcp.replica
    assert replica is not None
    return hcp.system, replica


def rest(
    hcp: Emulator,
    system: System,
    method: str,
    path: str,
    body: bytes | None = None,
    namespace: str = "ns1",
) -> Answer:
    headers = {"Host": f"{namespace}.dev.{system.domain}", "Authorization": hcp.auth_header}
    conn = http.client.HTTPConnection(system.addresses[0], hcp.port, timeout=DEADLINE)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def mapi(hcp: Emulator, system: System, method: str, path: str) -> Answer:
    headers = {"Host": f"admin.{system.domain}", "Authorization": hcp.management_auth_header}
    conn = http.client.HTTPConnection(system.addresses[0], hcp.mapi_port, timeout=DEADLINE)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def act(hcp: Emulator, system: System, action: str) -> None:
    answer = mapi(hcp, system, "POST", f"{LINK}?{action}")
    assert answer.status == 200, answer.header("X-HCP-ErrorMessage")


def statistics(hcp: Emulator, system: System) -> dict[str, str]:
    root = ET.fromstring(mapi(hcp, system, "GET", f"{LINK}?verbose=true").body)
    found = {child.tag: child.text or "" for child in root}
    found.update({child.tag: child.text or "" for child in root.iterfind("statistics/*")})
    return found


def eventually(check: Callable[[], bool], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def present(hcp: Emulator, system: System, path: str, namespace: str = "ns1") -> bool:
    return rest(hcp, system, "HEAD", path, namespace=namespace).status == 200


def test_both_sides_see_an_active_active_link(hcp: Emulator, sides: tuple[System, ...]) -> None:
    for system in sides:
        assert statistics(hcp, system)["type"] == "ACTIVE_ACTIVE"


def test_writes_on_either_system_reach_the_other(hcp: Emulator, sides: tuple[System, ...]) -> None:
    primary, replica = sides
    assert rest(hcp, primary, "PUT", "/rest/from-primary", b"p").status == 201
    assert rest(hcp, replica, "PUT", "/rest/from-replica", b"r").status == 201
    eventually(lambda: present(hcp, replica, "/rest/from-primary"))
    eventually(lambda: present(hcp, primary, "/rest/from-replica"))
    assert rest(hcp, primary, "GET", "/rest/from-replica").body == b"r"

    def replicated_everywhere() -> bool:
        heads = [rest(hcp, s, "HEAD", f"/rest/from-{n}") for s in sides for n in NAMES]
        return all(head.header("X-HCP-Replicated") == "true" for head in heads)

    eventually(replicated_everywhere)


def test_deletes_flow_both_ways(hcp: Emulator, sides: tuple[System, ...]) -> None:
    primary, replica = sides
    assert rest(hcp, primary, "PUT", "/rest/d/one", b"1").status == 201
    eventually(lambda: present(hcp, replica, "/rest/d/one"))
    assert rest(hcp, replica, "DELETE", "/rest/d/one").status == 200
    assert rest(hcp, replica, "DELETE", "/rest/d").status == 200
    eventually(lambda: rest(hcp, primary, "GET", "/rest/d").status == 404)
    assert rest(hcp, primary, "GET", "/rest/d/one").status == 404


def test_versions_from_both_systems_are_merged(hcp: Emulator, sides: tuple[System, ...]) -> None:
    primary, replica = sides
    assert rest(hcp, primary, "PUT", "/rest/v", b"first", "versioned").status == 201
    eventually(lambda: present(hcp, replica, "/rest/v", "versioned"))
    assert rest(hcp, replica, "PUT", "/rest/v", b"second", "versioned").status == 201
    assert hcp.wait_replicated(DEADLINE)

    def versions(system: System) -> list[str | None]:
        root = ET.fromstring(
            rest(hcp, system, "GET", "/rest/v?version=list", None, "versioned").body
        )
        return [entry.get("version") for entry in root.iter("entry")]

    assert len(versions(primary)) == 2
    assert versions(primary) == versions(replica)
    assert rest(hcp, primary, "GET", "/rest/v", None, "versioned").body == b"second"


def test_pending_counters_split_local_and_remote(hcp: Emulator, sides: tuple[System, ...]) -> None:
    primary, replica = sides
    act(hcp, primary, "suspend")
    for name in ("a", "b"):
        assert rest(hcp, primary, "PUT", f"/rest/{name}", b"12345").status == 201
    assert rest(hcp, replica, "PUT", "/rest/c", b"123").status == 201
    seen = statistics(hcp, primary)
    assert (seen["objectsPending"], seen["bytesPending"]) == ("2", "10")
    assert (seen["objectsPendingRemote"], seen["bytesPendingRemote"]) == ("1", "3")
    other = statistics(hcp, replica)
    assert (other["objectsPending"], other["objectsPendingRemote"]) == ("1", "2")
    act(hcp, replica, "resume")
    eventually(lambda: statistics(hcp, primary)["objectsPendingRemote"] == "0")
    eventually(lambda: statistics(hcp, primary)["objectsPending"] == "0")
    assert statistics(hcp, primary)["objectsReplicated"] == "3"


def test_failover_and_failback(hcp: Emulator, sides: tuple[System, ...]) -> None:
    primary, replica = sides
    act(hcp, replica, "failOver")
    assert statistics(hcp, primary)["statusMessage"] == "Failed over"
    assert rest(hcp, primary, "PUT", "/rest/lost", b"x").status == 403  # write to the survivor
    assert rest(hcp, replica, "PUT", "/rest/survivor", b"s").status == 201
    time.sleep(DELAY * 2)
    assert not present(hcp, primary, "/rest/survivor")  # replication stopped

    failback = mapi(hcp, primary, "POST", f"{LINK}?beginRecovery")
    assert failback.status == 400  # recovery is for active/passive links
    act(hcp, primary, "failBack")
    assert statistics(hcp, replica)["statusMessage"] == "Synchronizing data"
    eventually(lambda: present(hcp, primary, "/rest/survivor"))
    assert rest(hcp, primary, "PUT", "/rest/again", b"a").status == 201
    eventually(lambda: present(hcp, replica, "/rest/again"))
