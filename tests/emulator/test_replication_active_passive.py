"""A primary and a replica joined by an active/passive link (hcp-protocol §11.5, §12)."""

from __future__ import annotations

import http.client
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hcpfs.emulator import Emulator
from hcpfs.emulator.system import System

DEADLINE = 10.0
DELAY = 0.2
BASE = "127.0.0.61"
LINK = "/mapi/services/replication/links/primary-replica"
SAME_ON_BOTH = (
    "ETag",
    "X-HCP-VersionId",
    "X-HCP-IngestTimeMilliseconds",
    "X-HCP-Hash",
    "X-HCP-Retention",
    "X-HCP-RetentionString",
    "X-HCP-Owner",
    "X-HCP-Shred",
    "X-HCP-Index",
    "X-HCP-ChangeTimeMilliseconds",
)


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
    """Two nodes per system, changes replicated 0.2 s after they were made."""
    before = set(threading.enumerate())
    with Emulator(nodes=2, address_base=BASE, replica=True, replication_delay=DELAY) as emulator:
        yield emulator
    # The hash pool of the blobs module is shared by the whole process, not the emulator's.
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    left = [name for name in left if not name.startswith("hcp-hash")]
    assert left == []


@pytest.fixture(autouse=True)
def _fresh(hcp: Emulator) -> None:
    hcp.reset()


def replica_of(hcp: Emulator) -> System:
    replica = hcp.replica
    assert replica is not None
    return replica


def rest(
    hcp: Emulator,
    system: System,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    namespace: str = "ns1",
) -> Answer:
    """One request to the last node of ``system`` for a namespace of tenant ``dev``."""
    sent = {"Host": f"{namespace}.dev.{system.domain}", "Authorization": hcp.auth_header}
    sent.update(headers or {})
    conn = http.client.HTTPConnection(system.addresses[-1], hcp.port, timeout=DEADLINE)
    try:
        conn.request(method, path, body=body, headers=sent)
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


def link_details(hcp: Emulator, system: System) -> dict[str, str]:
    answer = mapi(hcp, system, "GET", f"{LINK}?verbose=true")
    assert answer.status == 200
    root = ET.fromstring(answer.body)
    found = {child.tag: child.text or "" for child in root}
    found.update({child.tag: child.text or "" for child in root.iterfind("statistics/*")})
    return found


def eventually(check: Callable[[], bool], timeout: float = DEADLINE) -> float:
    """Poll ``check`` until it is true; return the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_object_reaches_the_replica_after_the_delay(hcp: Emulator) -> None:
    replica = replica_of(hcp)
    started = time.monotonic()
    assert rest(hcp, hcp.system, "PUT", "/rest/docs/a.txt", b"replicate me").status == 201
    early = rest(hcp, replica, "GET", "/rest/docs/a.txt").status
    if time.monotonic() - started < DELAY:  # the check itself may be slow on a busy machine
        assert early == 404
        head = rest(hcp, hcp.system, "HEAD", "/rest/docs/a.txt")
        assert head.header("X-HCP-Replicated") == "false"

    eventually(lambda: rest(hcp, replica, "GET", "/rest/docs/a.txt").status == 200)
    assert time.monotonic() - started >= DELAY
    copy = rest(hcp, replica, "GET", "/rest/docs/a.txt")
    assert copy.body == b"replicate me"
    assert copy.header("X-HCP-ServicedBySystem") == "hcp-replica.example.com"
    eventually(
        lambda: (
            rest(hcp, hcp.system, "HEAD", "/rest/docs/a.txt").header("X-HCP-Replicated") == "true"
        )
    )
    original = rest(hcp, hcp.system, "HEAD", "/rest/docs/a.txt")
    for name in SAME_ON_BOTH:
        assert copy.header(name) == original.header(name), name
    listing = ET.fromstring(rest(hcp, hcp.system, "GET", "/rest/docs").body)
    assert [e.get("replicated") for e in listing.iter("entry")] == ["true"]


def test_asking_not_to_compute_replicated_leaves_the_header_out(hcp: Emulator) -> None:
    assert rest(hcp, hcp.system, "PUT", "/rest/quiet", b"x").status == 201
    answer = rest(
        hcp, hcp.system, "HEAD", "/rest/quiet", headers={"X-HCP-Get-Replicated": "false"}
    )
    assert answer.status == 200 and answer.header("X-HCP-Replicated") is None


def test_metadata_annotations_directories_and_deletes_follow(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    assert rest(hcp, primary, "PUT", "/rest/empty?type=directory").status == 201
    assert rest(hcp, primary, "PUT", "/rest/keep.txt", b"kept").status == 201
    assert rest(hcp, primary, "PUT", "/rest/gone.txt", b"deleted later").status == 201
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert rest(hcp, primary, "POST", "/rest/keep.txt", b"retention=N%2B1d", form).status == 200
    note = b"<note>replicated</note>"
    assert rest(hcp, primary, "PUT", "/rest/keep.txt?type=custom-metadata", note).status == 201
    assert rest(hcp, primary, "DELETE", "/rest/gone.txt").status == 200
    assert hcp.wait_replicated(DEADLINE)

    assert rest(hcp, replica, "GET", "/rest/gone.txt").status == 404
    assert rest(hcp, replica, "GET", "/rest/keep.txt?type=custom-metadata").body == note
    kept = rest(hcp, replica, "HEAD", "/rest/keep.txt")
    assert kept.header("X-HCP-Retention") == rest(hcp, primary, "HEAD", "/rest/keep.txt").header(
        "X-HCP-Retention"
    )
    assert kept.header("X-HCP-RetentionString") != "Deletion Allowed"
    listing = ET.fromstring(rest(hcp, replica, "GET", "/rest/").body)
    names = {(e.get("utf8Name"), e.get("type")) for e in listing.iter("entry")}
    assert names == {("empty", "directory"), ("keep.txt", "object")}


def test_versions_keep_their_ids_on_the_replica(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    for body in (b"one", b"two", b"three"):
        assert rest(hcp, primary, "PUT", "/rest/v.txt", body, namespace="versioned").status == 201
    assert rest(hcp, primary, "DELETE", "/rest/v.txt", namespace="versioned").status == 200
    assert hcp.wait_replicated(DEADLINE)

    def versions(system: System) -> list[tuple[str | None, str | None]]:
        answer = rest(hcp, system, "GET", "/rest/v.txt?version=list&deleted=true", None, None,
                      "versioned")  # fmt: skip
        return [
            (e.get("version"), e.get("state")) for e in ET.fromstring(answer.body).iter("entry")
        ]

    assert versions(replica) == versions(primary)
    assert [state for _, state in versions(replica)] == ["created"] * 3 + ["deleted"]


def test_the_replica_refuses_writes_until_failover(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    assert rest(hcp, primary, "PUT", "/rest/before.txt", b"before").status == 201
    assert hcp.wait_replicated(DEADLINE)
    refusals = [
        ("PUT", "/rest/new.txt", b"x"),
        ("PUT", "/rest/dir?type=directory", None),
        ("DELETE", "/rest/before.txt", None),
        ("POST", "/rest/before.txt?index=false", None),
    ]
    for method, path, body in refusals:
        answer = rest(hcp, replica, method, path, body)
        assert answer.status == 403, (method, path)
        assert "read-only on this system" in (answer.header("X-HCP-ErrorMessage") or "")

    act(hcp, replica, "failOver")
    assert rest(hcp, replica, "GET", "/rest/before.txt").body == b"before"
    assert rest(hcp, replica, "PUT", "/rest/new.txt", b"after failover").status == 201
    assert rest(hcp, primary, "PUT", "/rest/other.txt", b"x").status == 403
    assert rest(hcp, primary, "GET", "/rest/before.txt").status == 200  # reads stay allowed
    assert link_details(hcp, replica)["statusMessage"] == "Failed over"


def test_statistics_follow_the_backlog(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    act(hcp, primary, "suspend")
    sizes = [10, 20, 30]
    for number, size in enumerate(sizes):
        assert rest(hcp, primary, "PUT", f"/rest/s{number}", b"x" * size).status == 201
    time.sleep(DELAY * 2)  # longer than the delay: only the suspension holds the changes
    seen = link_details(hcp, primary)
    assert (seen["status"], seen["statusMessage"]) == ("WARNING", "Suspended by user")
    assert (seen["objectsPending"], seen["bytesPending"]) == ("3", str(sum(sizes)))
    assert seen["objectsPendingRemote"] == "0"  # always 0 on an active/passive link
    assert link_details(hcp, replica)["objectsPending"] == "3"
    assert rest(hcp, replica, "GET", "/rest/s0").status == 404

    act(hcp, replica, "resume")
    eventually(lambda: link_details(hcp, primary)["objectsPending"] == "0")
    seen = link_details(hcp, primary)
    assert (seen["status"], seen["statusMessage"]) == ("GOOD", "Synchronizing data")
    assert (seen["objectsReplicated"], seen["bytesReplicated"]) == ("3", str(sum(sizes)))
    assert seen["bytesPending"] == "0"
    for number in range(3):
        assert rest(hcp, replica, "GET", f"/rest/s{number}").status == 200


def test_recovery_makes_the_primary_writable_again(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    act(hcp, replica, "failOver")
    assert rest(hcp, replica, "PUT", "/rest/during.txt", b"written on the replica").status == 201
    time.sleep(DELAY * 2)  # longer than the delay: only the failover holds the change
    assert link_details(hcp, replica)["objectsPending"] == "1"
    assert rest(hcp, primary, "GET", "/rest/during.txt").status == 404

    act(hcp, replica, "beginRecover")  # the 9.x spelling
    assert link_details(hcp, replica)["statusMessage"] == "Recovering data"
    eventually(lambda: rest(hcp, primary, "GET", "/rest/during.txt").status == 200)
    assert rest(hcp, primary, "GET", "/rest/during.txt").body == b"written on the replica"
    assert rest(hcp, primary, "PUT", "/rest/x", b"x").status == 403
    assert rest(hcp, replica, "PUT", "/rest/still.txt", b"x").status == 201

    act(hcp, replica, "completeRecovery")
    eventually(lambda: link_details(hcp, primary)["statusMessage"] == "Synchronizing data")
    assert rest(hcp, primary, "GET", "/rest/still.txt").status == 200
    assert rest(hcp, primary, "PUT", "/rest/back.txt", b"primary again").status == 201
    assert rest(hcp, replica, "PUT", "/rest/refused.txt", b"x").status == 403
    eventually(lambda: rest(hcp, replica, "GET", "/rest/back.txt").status == 200)


def test_a_tenant_removed_from_the_link_is_not_replicated(hcp: Emulator) -> None:
    primary, replica = hcp.system, replica_of(hcp)
    assert mapi(hcp, primary, "DELETE", f"{LINK}/content/tenants/dev").status == 200
    assert rest(hcp, primary, "PUT", "/rest/local.txt", b"stays here").status == 201
    assert rest(hcp, replica, "PUT", "/rest/own.txt", b"the replica's own").status == 201
    time.sleep(DELAY * 2)
    assert rest(hcp, replica, "GET", "/rest/local.txt").status == 404
    assert rest(hcp, primary, "HEAD", "/rest/local.txt").header("X-HCP-Replicated") == "false"
    assert link_details(hcp, primary)["objectsPending"] == "0"


def test_replication_into_data_directories_survives_a_restart(tmp_path: Path) -> None:
    """Each system keeps its own copy of the bytes: the replica's data is in ``replica/``."""
    host = "ns1.dev.hcp-replica.example.com"
    with Emulator(data_dir=tmp_path, nodes=1, address="127.0.0.71", replica=True) as hcp:
        assert rest(hcp, hcp.system, "PUT", "/rest/disk.txt", b"on disk").status == 201
        assert rest(hcp, hcp.system, "PUT", "/rest/gone.txt", b"x").status == 201
        assert rest(hcp, hcp.system, "DELETE", "/rest/gone.txt").status == 200
        assert hcp.wait_replicated(DEADLINE)
        assert hcp.replica_host == host
    assert (tmp_path / "replica" / "journal.jsonl").is_file()
    with Emulator(data_dir=tmp_path, nodes=1, address="127.0.0.71", replica=True) as hcp:
        replica = replica_of(hcp)
        assert rest(hcp, replica, "GET", "/rest/disk.txt").body == b"on disk"
        assert rest(hcp, replica, "GET", "/rest/gone.txt").status == 404
