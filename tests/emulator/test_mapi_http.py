"""The management API over HTTP on its own port of every node (hcp-protocol §1.2, §11)."""

from __future__ import annotations

import http.client
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hcpfs.emulator import Emulator, ManagementUserConfig, SystemConfig
from hcpfs.emulator.credentials import hcp_token

DEADLINE = 10.0
BASE = "127.0.0.51"
LINKS = "/mapi/services/replication/links"
LINK = f"{LINKS}/primary-replica"
MONITOR = ("watcher", "watch-pass")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def message(self) -> str | None:
        value: str | None = self.headers.get("X-HCP-ErrorMessage")
        return value

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


@pytest.fixture(scope="module")
def hcp() -> Iterator[Emulator]:
    """A primary and a replica of two nodes each, management API over plain HTTP."""
    config = SystemConfig.default()
    config.management_users.append(ManagementUserConfig(*MONITOR, ["monitor"]))
    before = set(threading.enumerate())
    with Emulator(config, nodes=2, address_base=BASE, replica=True) as emulator:
        yield emulator
    # The hash pool of the blobs module is shared by the whole process, not the emulator's.
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    left = [name for name in left if not name.startswith("hcp-hash")]
    assert left == []


@pytest.fixture(autouse=True)
def _fresh(hcp: Emulator) -> None:
    hcp.reset()


def mapi(
    hcp: Emulator,
    method: str,
    path: str,
    *,
    replica: bool = False,
    auth: str | None = "admin",
    accept: str | None = None,
    body: bytes | None = None,
    port: int | None = None,
    host: str | None = None,
) -> Answer:
    """Send one request to the first node of a system (the management port by default)."""
    system = hcp.replica if replica else hcp.system
    assert system is not None
    headers = {"Host": host or f"admin.{system.domain}"}
    if auth == "admin":
        headers["Authorization"] = hcp.management_auth_header
    elif auth is not None:
        headers["Authorization"] = auth
    if accept is not None:
        headers["Accept"] = accept
    if body is not None:
        headers["Content-Type"] = "application/xml"
    conn = http.client.HTTPConnection(system.addresses[0], port or hcp.mapi_port, timeout=DEADLINE)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def details(hcp: Emulator, *, replica: bool = False) -> dict[str, str]:
    """The verbose link document as child element -> text (statistics flattened)."""
    answer = mapi(hcp, "GET", f"{LINK}?verbose=true", replica=replica)
    assert answer.status == 200, answer.message
    root = answer.xml()
    flat = {child.tag: (child.text or "") for child in root}
    statistics = root.find("statistics")
    assert statistics is not None
    flat.update({f"statistics/{child.tag}": child.text or "" for child in statistics})
    return flat


def test_service_settings_in_xml_and_json(hcp: Emulator) -> None:
    answer = mapi(hcp, "GET", "/mapi/services/replication?verbose=true")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/xml")
    root = answer.xml()
    assert root.tag == "replicationService"
    assert root.findtext("status") == "ENABLED"
    assert root.findtext("connectivityTimeoutSeconds") == "30"
    as_json = json.loads(
        mapi(hcp, "GET", "/mapi/services/replication", accept="application/json").body
    )
    assert as_json["verification"] == root.findtext("verification")
    assert "status" not in as_json  # only verbose requests show it


def test_every_answer_carries_the_hcp_headers_once(hcp: Emulator) -> None:
    answer = mapi(hcp, "GET", LINKS)
    assert answer.headers.get_all("X-HCP-SoftwareVersion") == [hcp.system.config.software_version]
    assert answer.headers["X-HCP-ServicedBySystem"] == "hcp.example.com"
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert answer.headers["Content-Length"] == str(len(answer.body))


@pytest.mark.parametrize("replica", [False, True], ids=["primary", "replica"])
def test_link_list_on_both_systems(hcp: Emulator, replica: bool) -> None:
    root = mapi(hcp, "GET", LINKS, replica=replica).xml()
    assert (root.tag, [name.text for name in root]) == ("links", ["primary-replica"])
    as_json = mapi(hcp, "GET", LINKS, replica=replica, accept="application/json")
    assert json.loads(as_json.body) == {"name": ["primary-replica"]}


def test_link_details_as_each_side_sees_them(hcp: Emulator) -> None:
    primary, replica = details(hcp), details(hcp, replica=True)
    assert (primary["type"], replica["type"]) == ("OUTBOUND", "INBOUND")
    assert primary["status"] == "GOOD" and primary["statusMessage"] == "Synchronizing data"
    assert primary["suspended"] == "false"
    assert primary["id"] == replica["id"]
    connection = mapi(hcp, "GET", LINK).xml().find("connection")
    assert connection is not None
    assert connection.findtext("remoteHost") == "replication.hcp-replica.example.com"
    assert connection.findtext("localHost") == "127.0.0.51, 127.0.0.52"


def test_link_details_in_json(hcp: Emulator) -> None:
    answer = mapi(hcp, "GET", f"{LINK}?verbose=true", accept="application/json")
    assert answer.headers["Content-Type"].startswith("application/json")
    link = json.loads(answer.body)
    assert link["name"] == "primary-replica" and link["type"] == "OUTBOUND"
    assert link["statistics"]["objectsPending"] == 0
    # On the primary of an A/P link only the replica (the remote side) can take over.
    assert list(link["failoverSettings"]) == ["remote"]
    assert link["failoverSettings"]["remote"]["autoFailover"] is False


def test_suspend_and_resume_through_the_api(hcp: Emulator) -> None:
    suspended = mapi(hcp, "POST", f"{LINK}?suspend")
    assert (suspended.status, suspended.body) == (200, b"")
    assert suspended.headers["Content-Length"] == "0"
    seen = details(hcp, replica=True)
    assert (seen["suspended"], seen["status"], seen["statusMessage"]) == (
        "true",
        "WARNING",
        "Suspended by user",
    )
    assert mapi(hcp, "POST", f"{LINK}?resume", replica=True).status == 200
    assert details(hcp)["suspended"] == "false"


@pytest.mark.parametrize(
    ("query", "replica", "fragment"),
    [
        ("failBack", True, "failBack is valid on active/active links only"),
        ("failOver", False, "must be sent to the replica"),
        ("completeRecovery", True, "send beginRecovery first"),
        ("explode", False, "name exactly one link action"),
        ("resume", False, "is not suspended"),
    ],
)
def test_an_invalid_action_is_400_with_a_message(
    hcp: Emulator, query: str, replica: bool, fragment: str
) -> None:
    answer = mapi(hcp, "POST", f"{LINK}?{query}", replica=replica)
    assert answer.status == 400
    assert answer.message is not None and fragment in answer.message
    assert details(hcp)["statusMessage"] == "Synchronizing data"  # nothing changed


def test_an_action_with_a_body_is_400(hcp: Emulator) -> None:
    answer = mapi(hcp, "POST", f"{LINK}?suspend", body=b"<link/>")
    assert answer.status == 400
    assert details(hcp)["suspended"] == "false"


def test_an_unknown_link_is_404_and_302_for_head(hcp: Emulator) -> None:
    assert mapi(hcp, "POST", f"{LINKS}/nothing?suspend").status == 404
    head = mapi(hcp, "HEAD", f"{LINKS}/nothing")
    assert (head.status, head.body) == (302, b"")
    existing = mapi(hcp, "HEAD", LINK)
    assert existing.status == 200
    assert int(existing.headers["Content-Length"]) == len(mapi(hcp, "GET", LINK).body) > 0


def test_a_data_user_is_refused(hcp: Emulator) -> None:
    for method, path in (("GET", LINKS), ("POST", f"{LINK}?suspend")):
        answer = mapi(hcp, method, path, auth=hcp.auth_header)
        assert answer.status == 403
        assert answer.message == "invalid credentials"
    assert mapi(hcp, "GET", LINKS, auth=None).status == 403


def test_a_monitor_may_read_but_not_act(hcp: Emulator) -> None:
    monitor = "HCP " + hcp_token(*MONITOR)
    assert mapi(hcp, "GET", f"{LINK}?verbose=true", auth=monitor).status == 200
    answer = mapi(hcp, "POST", f"{LINK}?suspend", auth=monitor)
    assert answer.status == 403
    assert answer.message is not None and "monitor" in answer.message
    assert details(hcp)["suspended"] == "false"


def test_management_requests_on_the_data_port_are_403(hcp: Emulator) -> None:
    answer = mapi(hcp, "GET", LINKS, port=hcp.port)
    assert answer.status == 403
    assert answer.message == "the management API is served on the management port only"
    tenant = mapi(
        hcp, "GET", "/mapi/tenants/dev/namespaces", port=hcp.port, host="dev.hcp.example.com"
    )
    assert tenant.status == 403


def test_the_management_port_serves_only_the_admin_host(hcp: Emulator) -> None:
    namespace = mapi(hcp, "GET", "/rest/", host=hcp.host, auth=hcp.auth_header)
    assert namespace.status == 403
    tenant = mapi(hcp, "GET", LINKS, host="dev.hcp.example.com")
    assert tenant.status == 403
    assert tenant.message is not None and "admin.hcp.example.com" in tenant.message


def test_the_api_acts_on_the_link_the_data_path_uses(hcp: Emulator) -> None:
    assert hcp.link is not None
    assert mapi(hcp, "POST", f"{LINK}?failOver", replica=True).status == 200
    assert hcp.link.state.value == "failed over"
    assert details(hcp, replica=True)["statusMessage"] == "Failed over"
